"""Spreadsheet import, the pure half: xlsx/csv rows -> validated records + row errors.

No database here. :func:`read_file` turns a workbook (one sheet per kind of data) or a CSV
(one kind per file) into :class:`ParsedImport`; :func:`check_references` then checks the
cross-sheet references (a score's student, a student's class...) against the file and what
the database already holds. ``bot.backends.local_import`` diffs and writes the result.

Schools export from many QLHS tools, so the reader is lenient where it is safe and strict
where a silent guess would be wrong:

* headers are matched on their :func:`~bot.domain.text.fold` form, with common variants
  ("Họ và tên" / "Họ tên", "Mã HS" / "Mã học sinh", "SĐT phụ huynh" / "Điện thoại");
* title rows above the header row are skipped (QLHS exports start with the school's name);
* a sheet is recognised by its name, or else by its headers; unknown sheets are skipped;
* scores take a decimal comma or point; dates are ``dd/mm/yyyy`` or real date cells;
* anything that cannot be read is a :class:`RowError` naming sheet, row and column, in
  Vietnamese. Phone numbers and student codes are never echoed in an error.

The messages here are for the school's operator at the command line, not for chat users,
so they live in this module rather than in the chat catalogues.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import functools
import io
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.domain.models import GradingForm
from bot.domain.phone import normalize_phone
from bot.domain.subjects import SUBJECTS, Subject
from bot.domain.text import clean, fold, parse_weekday

__all__ = [
    "SPECS",
    "ImportFileError",
    "Kind",
    "ParsedImport",
    "RowError",
    "check_references",
    "fold_key",
    "parse_rows",
    "read_file",
    "subject_for",
    "write_template",
]

MAX_FILE_BYTES = 100 * 1024 * 1024
_HEADER_SCAN_ROWS = 15
Progress = Callable[["str | Said", int, int], None]


class Kind(enum.StrEnum):
    """The kinds of data a school can import; one sheet (or one CSV file) each."""

    INFO = "info"  # tên trường, năm học, học kỳ hiện tại (key/value rows)
    CLASSES = "classes"
    TEACHERS = "teachers"
    STUDENTS = "students"
    GUARDIANS = "guardians"
    SCORES = "scores"
    TIMETABLE = "timetable"
    FEES = "fees"
    ATTENDANCE = "attendance"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str  # the header the template writes
    aliases: tuple[str, ...]  # folded variants accepted
    required: bool = False


@dataclass(frozen=True, slots=True)
class SheetSpec:
    kind: Kind
    title: str  # the sheet name the template writes
    aliases: tuple[str, ...]  # folded sheet names recognised
    columns: tuple[Column, ...]
    note: str  # the first row of the template sheet: how to fill it in
    example: tuple[object, ...] = ()


_STUDENT_CODE = Column(
    "student_code",
    "Mã HS",
    ("ma hs", "ma hoc sinh", "ma so hoc sinh", "mshs", "ma so hs"),
    required=True,
)
_REGULAR_HEADER = re.compile(r"^(?:tx|ddgtx|diem tx|diem ddgtx|ddg tx|kttx)\s?(\d{1,2})$")
_MIDTERM_HEADERS = ("gk", "ddggk", "giua ky", "giua hoc ky", "diem gk", "ddg gk", "ktgk")
_FINAL_HEADERS = ("ck", "ddgck", "cuoi ky", "cuoi hoc ky", "diem ck", "ddg ck", "ktck")

SPECS: dict[Kind, SheetSpec] = {
    s.kind: s
    for s in (
        SheetSpec(
            Kind.INFO,
            "Trường",
            ("truong", "thong tin truong", "thong tin"),
            (
                Column("key", "Thông tin", ("thong tin",)),
                Column("value", "Giá trị", ("gia tri",)),
            ),
            "Mỗi dòng một thông tin: Tên trường, Năm học (2026-2027), Học kỳ hiện tại (1 hoặc 2).",
        ),
        SheetSpec(
            Kind.CLASSES,
            "Lớp",
            ("lop", "lop hoc", "danh sach lop"),
            (
                Column("name", "Lớp", ("lop", "ten lop"), required=True),
                Column("grade", "Khối", ("khoi", "khoi lop"), required=True),
                Column(
                    "homeroom",
                    "GVCN (mã GV)",
                    ("gvcn", "gvcn ma gv", "ma gvcn", "giao vien chu nhiem", "ma gv chu nhiem"),
                ),
            ),
            "Mỗi dòng một lớp. Khối: 6–9 (hoặc 1–12). GVCN: mã giáo viên ở trang Giáo viên.",
            ("6A", 6, "GV001"),
        ),
        SheetSpec(
            Kind.TEACHERS,
            "Giáo viên",
            ("giao vien", "gv", "can bo giao vien", "danh sach giao vien"),
            (
                Column("code", "Mã GV", ("ma gv", "ma giao vien", "ma can bo"), required=True),
                Column(
                    "name",
                    "Họ và tên",
                    ("ho va ten", "ho ten", "ho ten giao vien", "ho va ten giao vien"),
                    required=True,
                ),
                Column("phone", "SĐT", ("sdt", "so dien thoai", "dien thoai", "dt")),
                Column("homeroom", "Lớp chủ nhiệm", ("lop chu nhiem", "chu nhiem", "lop cn")),
                Column(
                    "teaches",
                    "Môn dạy",
                    ("mon day", "phan cong", "phan cong giang day", "mon day lop"),
                ),
            ),
            "Môn dạy: 'Toán: 6A, 7A; Tin học: 8A'. Lớp chủ nhiệm: tên lớp, có thể để trống.",
            ("GV001", "Nguyễn Thị Hoa", "0912345678", "6A", "Toán: 6A, 7A"),
        ),
        SheetSpec(
            Kind.STUDENTS,
            "Học sinh",
            ("hoc sinh", "danh sach hoc sinh", "hs"),
            (
                _STUDENT_CODE,
                Column(
                    "name",
                    "Họ và tên",
                    ("ho va ten", "ho ten", "ho va ten hoc sinh", "ho ten hoc sinh"),
                    required=True,
                ),
                Column("class_name", "Lớp", ("lop", "ten lop"), required=True),
                Column("birth_date", "Ngày sinh", ("ngay sinh", "ngay thang nam sinh")),
            ),
            "Mỗi dòng một học sinh. Mã HS không được trùng. Ngày sinh dạng dd/mm/yyyy.",
            ("HS6A01", "Nguyễn Minh An", "6A", "15/03/2014"),
        ),
        SheetSpec(
            Kind.GUARDIANS,
            "Phụ huynh",
            ("phu huynh", "cha me hoc sinh", "ph", "danh sach phu huynh"),
            (
                _STUDENT_CODE,
                Column(
                    "name",
                    "Họ tên phụ huynh",
                    ("ho ten phu huynh", "ho va ten phu huynh", "phu huynh", "ho va ten", "ho ten"),
                ),
                Column("relation", "Quan hệ", ("quan he", "moi quan he")),
                Column(
                    "phone",
                    "SĐT phụ huynh",
                    (
                        "sdt phu huynh",
                        "so dien thoai phu huynh",
                        "dien thoai phu huynh",
                        "dien thoai",
                        "so dien thoai",
                        "sdt",
                    ),
                    required=True,
                ),
            ),
            "Mỗi dòng một phụ huynh của một học sinh: một học sinh có thể có nhiều dòng, "
            "một số điện thoại có thể dùng cho nhiều học sinh. Đây là số nhận mã OTP.",
            ("HS6A01", "Trần Thị Mai", "Mẹ", "0912345678"),
        ),
        SheetSpec(
            Kind.SCORES,
            "Điểm",
            ("diem", "bang diem", "so diem", "diem so"),
            (
                _STUDENT_CODE,
                Column("subject", "Môn", ("mon", "mon hoc"), required=True),
                Column("term", "Học kỳ", ("hoc ky", "hk", "ky"), required=True),
            ),
            "Một dòng cho một học sinh, một môn, một học kỳ. TX1…TXn: điểm thường xuyên; "
            "GK: giữa kỳ; CK: cuối kỳ; thang 0–10, dấu phẩy hoặc chấm. Môn chỉ nhận xét: "
            "ghi Đ (Đạt) hoặc CĐ (Chưa đạt) vào các cột TX. Ô trống: chưa có điểm.",
            ("HS6A01", "Toán", 1, 8, "7,5", 9, 8, "7,8", "8,5"),
        ),
        SheetSpec(
            Kind.TIMETABLE,
            "Thời khóa biểu",
            ("thoi khoa bieu", "tkb"),
            (
                Column("class_name", "Lớp", ("lop",), required=True),
                Column("weekday", "Thứ", ("thu", "ngay trong tuan"), required=True),
                Column("session", "Buổi", ("buoi",), required=True),
                Column("period", "Tiết", ("tiet",), required=True),
                Column("subject", "Môn", ("mon", "mon hoc", "noi dung"), required=True),
                Column("teacher", "Giáo viên", ("giao vien", "gv", "ho ten giao vien")),
                Column("room", "Phòng", ("phong", "phong hoc")),
            ),
            "Mỗi dòng một tiết. Thứ: 2–7; Buổi: Sáng hoặc Chiều; Tiết: 1–10. "
            "Nhập lại thời khóa biểu của một lớp sẽ thay toàn bộ thời khóa biểu cũ của lớp đó.",
            ("6A", 2, "Sáng", 1, "Chào cờ", "Nguyễn Thị Hoa", "Sân trường"),
        ),
        SheetSpec(
            Kind.FEES,
            "Khoản thu",
            ("khoan thu", "cac khoan thu", "hoc phi", "thu chi"),
            (
                _STUDENT_CODE,
                Column("name", "Khoản thu", ("khoan thu", "ten khoan thu", "noi dung thu"), True),
                Column("amount", "Số tiền", ("so tien", "so tien vnd", "muc thu"), required=True),
                Column("due_date", "Hạn nộp", ("han nop", "han dong", "han")),
                Column("mandatory", "Bắt buộc", ("bat buoc", "bat buoc tu nguyen", "loai")),
                Column("paid_on", "Ngày nộp", ("ngay nop", "da nop", "ngay da nop")),
            ),
            "Mỗi dòng một khoản của một học sinh. Bắt buộc: Có / Không (tự nguyện). "
            "Ngày nộp: để trống nếu chưa nộp. Số tiền: đồng, ví dụ 631.800.",
            ("HS6A01", "Bảo hiểm y tế học sinh", 631800, "15/10/2026", "Có", ""),
        ),
        SheetSpec(
            Kind.ATTENDANCE,
            "Điểm danh",
            ("diem danh", "chuyen can", "nghi hoc"),
            (
                _STUDENT_CODE,
                Column("date", "Ngày", ("ngay", "ngay nghi"), required=True),
                Column("session", "Buổi", ("buoi",)),
                Column("excused", "Có phép", ("co phep", "phep", "loai")),
                Column("reason", "Lý do", ("ly do", "li do")),
            ),
            "Mỗi dòng một buổi nghỉ. Buổi: Sáng, Chiều hoặc để trống (cả ngày). "
            "Có phép: Có / Không.",
            ("HS6A01", "20/11/2026", "Sáng", "Có", "ốm"),
        ),
    )
}

_GUIDE_SHEETS = frozenset({"huong dan", "ghi chu", "readme"})  # skipped without a word
_SCORE_TITLES = ("TX1", "TX2", "TX3", "TX4", "GK", "CK")


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Said:
    """A line of the import report, said in the operator's language when it is shown
    (catalogue table ``[import_msg]``). ``str()`` says it in Vietnamese, the default.
    Column and sheet titles stay the file's own words."""

    key: str
    values: tuple[tuple[str, object], ...] = ()

    def render(self, lang: str) -> str:
        from bot.i18n import Catalog

        values = {k: v.render(lang) if isinstance(v, Said) else v for k, v in self.values}
        return Catalog.load().t(lang, f"import_msg.{self.key}", **values)

    def __str__(self) -> str:
        return self.render(DEFAULT_LANG)


DEFAULT_LANG = "vi"


def _s(key: str, /, **values: object) -> Said:
    return Said(key, tuple(values.items()))


class ImportFileError(Exception):
    """The file as a whole cannot be read (missing, not a spreadsheet, empty...)."""

    def __init__(self, said: Said) -> None:
        super().__init__(str(said))
        self.said = said

    def render(self, lang: str) -> str:
        return self.said.render(lang)


@dataclass(frozen=True, slots=True)
class RowError:
    sheet: str
    row: int  # 1-based, as the spreadsheet shows it; 0 = the sheet as a whole
    column: str
    message: Said

    def render(self, lang: str) -> str:
        where = _s("where_sheet", sheet=self.sheet).render(lang)
        if self.row:
            where += _s("where_row", row=self.row).render(lang)
        if self.column:
            where += _s("where_column", column=self.column).render(lang)
        return f"{where}: {self.message.render(lang)}"

    def __str__(self) -> str:
        return self.render(DEFAULT_LANG)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One data row. ``given`` holds the optional columns the sheet has: an optional column
    that is absent keeps what the database has; a present but empty cell clears it."""

    kind: Kind
    sheet: str
    row: int
    given: frozenset[str]
    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def ref(self) -> Said:
        return _s("ref", sheet=self.sheet, row=self.row)


@dataclass(slots=True)
class ParsedImport:
    records: dict[Kind, list[Record]] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    sheets: dict[Kind, list[str]] = field(default_factory=dict)  # kind -> sheet names read
    skipped: list[str] = field(default_factory=list)  # sheets not recognised
    info: dict[str, Any] = field(default_factory=dict)  # name, school_year, current_term
    # classes, students, teachers whose own row has an error: references to them are not
    # reported again as "unknown"
    rejected: set[tuple[Kind, str]] = field(default_factory=set)

    def of(self, kind: Kind) -> list[Record]:
        return self.records.get(kind, [])

    def sheet_title(self, kind: Kind) -> str:
        names = self.sheets.get(kind)
        return ", ".join(names) if names else SPECS[kind].title


# --- reading files ---------------------------------------------------------------------

Rows = Iterator[tuple[int, list[object]]]


def read_file(
    path: Path, *, kind: Kind | None = None, progress: Progress | None = None
) -> ParsedImport:
    """Read an xlsx workbook or a CSV file. Raises :class:`ImportFileError` for a file that
    cannot be read at all; everything row-level ends up in ``ParsedImport.errors``."""
    try:
        size = path.stat().st_size
    except OSError:
        raise ImportFileError(_s("file_missing", path=path)) from None
    if not path.is_file():
        raise ImportFileError(_s("not_a_file", path=path))
    if size == 0:
        raise ImportFileError(_s("file_empty"))
    if size > MAX_FILE_BYTES:
        raise ImportFileError(_s("file_too_big"))
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"PK"):
        return _read_xlsx(path, kind=kind, progress=progress)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_s("old_xls"))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise ImportFileError(_s("bad_xlsx", error="-"))
    return _read_csv(path, kind=kind, progress=progress)


def _read_xlsx(path: Path, *, kind: Kind | None, progress: Progress | None) -> ParsedImport:
    # Files saved by other tools make openpyxl warn ("Data Validation extension is not
    # supported", "no default style"): harmless for reading values, noise for the operator.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_xlsx_quietly(path, kind=kind, progress=progress)


def _read_xlsx_quietly(path: Path, *, kind: Kind | None, progress: Progress | None) -> ParsedImport:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as err:
        raise ImportFileError(_s("bad_xlsx", error=type(err).__name__)) from None
    except Exception as err:  # openpyxl raises many kinds on malformed files
        raise ImportFileError(_s("bad_xlsx", error=type(err).__name__)) from None
    try:
        sheets: list[tuple[str, Rows]] = []
        for ws in wb.worksheets:
            rows = (
                (n, list(values))
                for n, values in enumerate(ws.iter_rows(values_only=True), start=1)
            )
            sheets.append((str(ws.title), rows))
        try:
            return parse_rows(sheets, kind=kind, progress=progress)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
            raise ImportFileError(_s("broken_xlsx", error=type(err).__name__)) from None
    finally:
        wb.close()


def _read_csv(path: Path, *, kind: Kind | None, progress: Progress | None) -> ParsedImport:
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise ImportFileError(_s("not_a_table"))
    for encoding in ("utf-8-sig", "cp1258"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFileError(_s("csv_encoding"))
    del data
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        reader = csv.reader(io.StringIO(text), dialect)
        rows = ((n, list[object](r)) for n, r in enumerate(reader, start=1))
        title = path.name
        result = parse_rows([(title, rows)], kind=kind, progress=progress, csv_mode=True)
    except csv.Error as err:
        raise ImportFileError(_s("bad_csv", error=str(err))) from None
    return result


# --- sheets -> records -----------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16, typed=True)  # each code is looked up once per sheet, or more
def fold_key(value: object) -> str:
    """The comparison form of a code or a class name: folded, no spaces, upper-case."""
    return "".join(fold(_text(value)).split()).upper()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y")
    return clean(str(value)).strip()  # NFC, no control or bidi-override characters


# Subject names, terms, sessions, Có/Không, Đ/CĐ: a handful of values, each on thousands of rows.
_fold_value = functools.lru_cache(maxsize=4096)(fold)


def _column_key(spec: SheetSpec, header: str) -> str | None:
    folded = fold(header)
    if not folded:
        return None
    for col in spec.columns:
        if folded in col.aliases:
            return col.key
    if spec.kind is Kind.SCORES:
        m = _REGULAR_HEADER.match(folded)
        if m and 1 <= int(m.group(1)) <= 20:
            return f"tx{int(m.group(1))}"
        if folded in _MIDTERM_HEADERS:
            return "gk"
        if folded in _FINAL_HEADERS:
            return "ck"
    return None


def _match_header(spec: SheetSpec, cells: Sequence[object]) -> dict[int, str]:
    return {
        i: key
        for i, cell in enumerate(cells)
        if (key := _column_key(spec, _text(cell))) is not None
    }


def _complete(spec: SheetSpec, mapped: dict[int, str]) -> bool:
    keys = set(mapped.values())
    if not all(c.key in keys for c in spec.columns if c.required):
        return False
    if spec.kind is Kind.SCORES:
        return any(k.startswith("tx") or k in ("gk", "ck") for k in keys)
    return True


def _sheet_kind(title: str) -> Kind | None:
    folded = fold(title)
    for spec in SPECS.values():
        if folded in spec.aliases:
            return spec.kind
    return None


def _detect(cells: Sequence[object]) -> tuple[Kind, dict[int, str]] | None:
    """The kind whose required headers are all in ``cells``; the fullest match wins."""
    best: tuple[int, Kind, dict[int, str]] | None = None
    for spec in SPECS.values():
        if spec.kind is Kind.INFO:
            continue
        mapped = _match_header(spec, cells)
        if _complete(spec, mapped) and (best is None or len(mapped) > best[0]):
            best = (len(mapped), spec.kind, mapped)
    return None if best is None else (best[1], best[2])


def parse_rows(
    sheets: Iterable[tuple[str, Rows]],
    *,
    kind: Kind | None = None,
    progress: Progress | None = None,
    csv_mode: bool = False,
) -> ParsedImport:
    """Sheets as ``(title, rows)`` -> records and errors. ``kind`` forces every sheet's kind."""
    out = ParsedImport()
    any_sheet = False
    for title, rows in sheets:
        any_sheet = True
        forced = kind or _sheet_kind(title)
        if forced is Kind.INFO:
            _parse_info(title, rows, out)
            out.sheets.setdefault(Kind.INFO, []).append(title)
            continue
        header: tuple[int, Kind, dict[int, str]] | None = None
        buffered: list[tuple[int, list[object]]] = []
        for n, cells in rows:
            if forced is not None:
                mapped = _match_header(SPECS[forced], cells)
                if _complete(SPECS[forced], mapped):
                    header = (n, forced, mapped)
                    break
            else:
                found = _detect(cells)
                if found is not None:
                    header = (n, found[0], found[1])
                    break
            buffered.append((n, cells))
            if len(buffered) >= _HEADER_SCAN_ROWS:
                break
        if header is None:
            if forced is not None:
                spec = SPECS[forced]
                seen = {k for _n, c in buffered for k in _match_header(spec, c).values()}
                missing = [c.title for c in spec.columns if c.required and c.key not in seen]
                what = ", ".join(missing) if missing else "TX1…TXn / GK / CK"
                out.errors.append(RowError(title, 0, "", _s("no_header", columns=what)))
            elif csv_mode:
                out.errors.append(RowError(title, 0, "", _s("unknown_kind")))
            elif fold(title) not in _GUIDE_SHEETS:
                out.skipped.append(title)
            continue
        n_header, sheet_kind, mapped = header
        out.sheets.setdefault(sheet_kind, []).append(title)
        _parse_body(title, sheet_kind, n_header, mapped, rows, out, progress)
    if not any_sheet:
        raise ImportFileError(_s("no_sheets"))
    if not any(out.records.values()) and not out.errors:
        raise ImportFileError(_s("no_data"))
    return out


def _parse_info(title: str, rows: Rows, out: ParsedImport) -> None:
    for n, cells in rows:
        if len(cells) < 2:
            continue
        key, value = fold(_text(cells[0])), cells[1]
        if key in ("ten truong", "truong"):
            if _text(value):
                out.info["name"] = _text(value)[:200]
        elif key == "nam hoc":
            if _text(value):
                out.info["school_year"] = _text(value)[:20]
        elif key in ("hoc ky hien tai", "hoc ky", "hk hien tai"):
            term = _term(value)
            if term is None:
                out.errors.append(RowError(title, n, "Giá trị", _s("term")))
            else:
                out.info["current_term"] = term


def _parse_body(
    title: str,
    kind: Kind,
    n_header: int,
    mapped: dict[int, str],
    rows: Rows,
    out: ParsedImport,
    progress: Progress | None,
) -> None:
    spec = SPECS[kind]
    titles = {c.key: c.title for c in spec.columns}
    seen_keys = list(mapped.values())
    for key in set(seen_keys):
        if seen_keys.count(key) > 1:
            out.errors.append(
                RowError(title, n_header, titles.get(key, key.upper()), _s("column_twice"))
            )
    given = frozenset(mapped.values())
    parse = _PARSERS[kind]
    records = out.records.setdefault(kind, [])
    count = 0
    for n, cells in rows:
        raw = {key: cells[i] if i < len(cells) else None for i, key in mapped.items()}
        if all(_text(v) == "" for v in raw.values()):
            continue
        errors: list[RowError] = []

        def err(key: str, message: Said, n: int = n, errors: list[RowError] = errors) -> None:
            errors.append(RowError(title, n, titles.get(key, key.upper()), message))

        values = parse(raw, given, err)
        if errors:
            out.errors.extend(errors)
            if kind in _KEY_COLUMN:
                out.rejected.add((kind, fold_key(raw.get(_KEY_COLUMN[kind]))))
        else:
            records.append(Record(kind=kind, sheet=title, row=n, given=given, values=values))
        count += 1
        if progress is not None and count % 500 == 0:
            progress(_s("reading", title=title), count, 0)
    if progress is not None:
        progress(_s("reading", title=title), count, count)


Err = Callable[[str, Said], None]
_KEY_COLUMN = {Kind.CLASSES: "name", Kind.STUDENTS: "student_code", Kind.TEACHERS: "code"}


def _required_text(raw: dict[str, object], key: str, err: Err, limit: int) -> str:
    value = _text(raw.get(key))
    if not value:
        err(key, _s("required"))
    elif len(value) > limit:
        err(key, _s("too_long", limit=limit))
    return value


def _optional_text(raw: dict[str, object], key: str, err: Err, limit: int) -> str:
    value = _text(raw.get(key))
    if len(value) > limit:
        err(key, _s("too_long", limit=limit))
    return value


def _code(raw: dict[str, object], key: str, err: Err) -> str:
    value = _required_text(raw, key, err, 32)
    if value and not re.fullmatch(r"[0-9A-Za-z._\-/ ]+", value):
        err(key, _s("bad_code"))
    return value


_DATE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")


def _date(value: object) -> dt.date | str | None:
    """A date, ``None`` for an empty cell, or the text that could not be read."""
    if value is None or _text(value) == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    m = _DATE.match(text)
    if m:
        try:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            return text
    return text


def _date_field(raw: dict[str, object], key: str, err: Err, *, required: bool) -> dt.date | None:
    value = _date(raw.get(key))
    if isinstance(value, str):
        err(key, _s("bad_date", value=value[:20]))
        return None
    if value is None and required:
        err(key, _s("no_date"))
    elif value is not None and not 1900 <= value.year <= 2100:
        err(key, _s("bad_year"))
    return value


def _phone(raw: dict[str, object], key: str, err: Err, *, required: bool) -> str:
    value = raw.get(key)
    text = _text(value)
    if not text:
        if required:
            err(key, _s("no_phone"))
        return ""
    if isinstance(value, int | float) and not text.startswith("0"):
        text = "0" + text  # Excel drops the leading zero of a number typed as a number
    phone = normalize_phone(text)
    if phone is None:
        err(key, _s("bad_phone"))
        return ""
    return phone


def _term(value: object) -> int | None:
    folded = _fold_value(_text(value)).replace(" ", "")
    folded = folded.removeprefix("hocky").removeprefix("hk")
    return {"1": 1, "i": 1, "2": 2, "ii": 2}.get(folded)


_YES = frozenset({"co", "x", "1", "true", "yes", "y", "dung", "bat buoc", "co phep", "p", "roi"})
_NO = frozenset(
    {"khong", "0", "false", "no", "n", "tu nguyen", "khong phep", "k", "kp", "chua", "sai"}
)


def _bool(raw: dict[str, object], key: str, err: Err, *, default: bool) -> bool:
    folded = _fold_value(_text(raw.get(key)))
    if not folded:
        return default
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    err(key, _s("yes_no"))
    return default


def _int_in(raw: dict[str, object], key: str, err: Err, lo: int, hi: int) -> int:
    value = raw.get(key)
    text = _text(value)
    if isinstance(value, float) and not value.is_integer():
        text = "?"
    if not re.fullmatch(r"\d{1,3}", text) or not lo <= int(text) <= hi:
        err(key, _s("int_range", lo=lo, hi=hi))
        return lo
    return int(text)


def _score(value: object) -> int | Said | None:
    """A score in tenths (6.8 -> 68), ``None`` if empty, or an error message."""
    if value is None or _text(value) == "":
        return None
    if isinstance(value, bool):
        return _s("not_a_score", value="")
    text = _text(value)
    if isinstance(value, int | float):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        shown = text.replace(".", ",")
    else:
        shown = text
        try:
            number = Decimal(text.replace(",", ".").replace(" ", ""))
        except InvalidOperation:
            return _s("not_a_score", value=f"'{text[:12]}' ")
    if not number.is_finite():
        return _s("not_a_score", value=f"'{shown[:12]}' ")
    if not Decimal(0) <= number <= Decimal(10):
        return _s("score_range", value=shown[:12])
    tenths = number * 10
    if tenths != tenths.to_integral_value():
        return _s("score_decimals", value=shown[:12])
    return int(tenths)


def _comment(value: object) -> bool | Said | None:
    folded = _fold_value(_text(value)).replace(" ", "")
    if not folded:
        return None
    if folded in ("d", "dat", "pass"):
        return True
    if folded in ("cd", "chuadat", "kd", "khongdat", "fail"):
        return False
    return _s("comment_only", value=_text(value)[:12])


# Subjects: the TT22 catalogue, found by name, code or any usual alias.
def _subject_index() -> dict[str, Subject]:
    index: dict[str, Subject] = {}
    for subj in SUBJECTS:
        for key in (subj.code, subj.code.replace("_", " "), fold(subj.name), *subj.aliases):
            index.setdefault(fold(key), subj)
    return index


_SUBJECTS = _subject_index()


def subject_for(name: str) -> Subject | None:
    return _SUBJECTS.get(_fold_value(name))


def _subject(raw: dict[str, object], key: str, err: Err) -> Subject | None:
    name = _text(raw.get(key))
    if not name:
        err(key, _s("no_subject"))
        return None
    subj = subject_for(name)
    if subj is None:
        err(key, _s("unknown_subject", name=name[:40]))
    return subj


def _p_classes(raw: dict[str, object], given: frozenset[str], err: Err) -> dict[str, Any]:
    name = _required_text(raw, "name", err, 20)
    return {
        "name": name,
        "grade": _int_in(raw, "grade", err, 1, 12),
        "homeroom": _text(raw.get("homeroom")),
    }


def _p_teachers(raw: dict[str, object], given: frozenset[str], err: Err) -> dict[str, Any]:
    teaches: list[tuple[str, str]] = []
    for part in re.split(r"[;\n]", _text(raw.get("teaches"))):
        if not part.strip():
            continue
        subject_name, sep, classes = part.partition(":")
        subj = subject_for(subject_name)
        if not sep or subj is None:
            err("teaches", _s("bad_teaches", value=part.strip()[:40]))
            continue
        for cls in re.split(r"[,\s]+", classes):
            if cls.strip():
                teaches.append((subj.code, cls.strip()))
    homeroom = [c.strip() for c in re.split(r"[,;\s]+", _text(raw.get("homeroom"))) if c.strip()]
    return {
        "code": _code(raw, "code", err),
        "name": _required_text(raw, "name", err, 120),
        "phone": _phone(raw, "phone", err, required=False),
        "homeroom": tuple(homeroom),
        "teaches": tuple(teaches),
    }


def _p_students(raw: dict[str, object], given: frozenset[str], err: Err) -> dict[str, Any]:
    return {
        "code": _code(raw, "student_code", err),
        "name": _required_text(raw, "name", err, 120),
        "class_name": _required_text(raw, "class_name", err, 20),
        "birth_date": _date_field(raw, "birth_date", err, required=False),
    }


def _p_guardians(raw: dict[str, object], given: frozenset[str], err: Err) -> dict[str, Any]:
    return {
        "code": _code(raw, "student_code", err),
        "name": _optional_text(raw, "name", err, 120),
        "relation": _optional_text(raw, "relation", err, 20),
        "phone": _phone(raw, "phone", err, required=True),
    }


def _p_scores(raw: dict[str, object], given: frozenset[str], err: Err) -> dict[str, Any]:
    subj = _subject(raw, "subject", err)
    term = _term(raw.get("term"))
    if term is None:
        err("term", _s("term"))
    regular: list[tuple[int, int]] = []
    comments: list[tuple[int, bool]] = []
    exams: dict[str, int] = {}
    for key, value in raw.items():
        if not (key.startswith("tx") or key in ("gk", "ck")):
            continue
        if subj is not None and subj.form is GradingForm.COMMENT:
            if key.startswith("tx"):
                result = _comment(value)
                if isinstance(result, Said):
                    err(key, result)
                elif result is not None:
                    comments.append((int(key[2:]), result))
            elif _text(value):
                err(key, _s("comment_no_exams"))
            continue
        score = _score(value)
        if isinstance(score, Said):
            if _comment(value) in (True, False):
                score = _s("scored_not_comment")
            err(key, score)
        elif score is not None:
            if key.startswith("tx"):
                regular.append((int(key[2:]), score))
            else:
                exams[key] = score
    return {
        "code": _code(raw, "student_code", err),
        "subject": subj.code if subj else "",
        "term": term or 1,
        "regular": tuple(sorted(regular)),
        "comments": tuple(sorted(comments)),
        "gk": exams.get("gk"),
        "ck": exams.get("ck"),
    }


def _p_timetable(raw: dict[str, object], given: frozenset[str], err: Err) -> dict[str, Any]:
    weekday_raw = raw.get("weekday")
    text = _text(weekday_raw)
    weekday: int | None = None
    if re.fullmatch(r"[2-7]", text):
        weekday = int(text) - 2
    elif text:
        weekday = parse_weekday(text if fold(text).startswith(("thu", "t")) else f"thứ {text}")
    if weekday is None or not 0 <= weekday <= 5:
        err("weekday", _s("weekday"))
        weekday = 0
    return {
        "class_name": _required_text(raw, "class_name", err, 20),
        "weekday": weekday,
        "session": _session(raw, err, allow_day=False),
        "period": _int_in(raw, "period", err, 1, 10),
        "subject": _required_text(raw, "subject", err, 120),
        "teacher": _optional_text(raw, "teacher", err, 120),
        "room": _optional_text(raw, "room", err, 20),
    }


def _session(raw: dict[str, object], err: Err, *, allow_day: bool) -> str:
    folded = _fold_value(_text(raw.get("session")))
    if folded in ("sang", "s", "morning"):
        return "morning"
    if folded in ("chieu", "c", "afternoon"):
        return "afternoon"
    if allow_day and folded in ("", "ca ngay", "ngay", "day", "cn"):
        return "day"
    err("session", _s("session_or_day") if allow_day else _s("session"))
    return "day" if allow_day else "morning"


def _p_fees(raw: dict[str, object], given: frozenset[str], err: Err) -> dict[str, Any]:
    value = raw.get("amount")
    amount = 0
    if isinstance(value, float) and not value.is_integer():
        err("amount", _s("amount_whole"))
    else:
        text = re.sub(r"\s|₫|đ|vnd|VND|[.,]", "", _text(value))
        if not re.fullmatch(r"\d{1,12}", text):
            err("amount", _s("amount_bad"))
        elif int(text) > 2_000_000_000:
            err("amount", _s("amount_too_big"))
        else:
            amount = int(text)
    paid = _date(raw.get("paid_on"))
    if isinstance(paid, str):
        if fold(paid) in _YES:
            err("paid_on", _s("paid_date_not_yes"))
        elif fold(paid) not in _NO:
            err("paid_on", _s("bad_date", value=paid[:20]))
        paid = None
    return {
        "code": _code(raw, "student_code", err),
        "name": _required_text(raw, "name", err, 200),
        "amount": amount,
        "due_date": _date_field(raw, "due_date", err, required=False),
        "mandatory": _bool(raw, "mandatory", err, default=False),
        "paid_on": paid,
    }


def _p_attendance(raw: dict[str, object], given: frozenset[str], err: Err) -> dict[str, Any]:
    return {
        "code": _code(raw, "student_code", err),
        "date": _date_field(raw, "date", err, required=True),
        "session": _session(raw, err, allow_day=True),
        "excused": _bool(raw, "excused", err, default=False),
        "reason": _optional_text(raw, "reason", err, 300),
    }


_PARSERS: dict[Kind, Callable[[dict[str, object], frozenset[str], Err], dict[str, Any]]] = {
    Kind.CLASSES: _p_classes,
    Kind.TEACHERS: _p_teachers,
    Kind.STUDENTS: _p_students,
    Kind.GUARDIANS: _p_guardians,
    Kind.SCORES: _p_scores,
    Kind.TIMETABLE: _p_timetable,
    Kind.FEES: _p_fees,
    Kind.ATTENDANCE: _p_attendance,
}

# --- cross-sheet checks ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Known:
    """What the database already holds for the school (folded keys)."""

    classes: frozenset[str] = frozenset()
    students: frozenset[str] = frozenset()
    teachers: frozenset[str] = frozenset()


def _row_key(kind: Kind, r: Record) -> tuple[object, ...]:
    v = r.values
    match kind:
        case Kind.CLASSES:
            return (fold_key(v["name"]),)
        case Kind.TEACHERS:
            return (fold_key(v["code"]),)
        case Kind.STUDENTS:
            return (fold_key(v["code"]),)
        case Kind.GUARDIANS:
            return (fold_key(v["code"]), v["phone"])
        case Kind.SCORES:
            return (fold_key(v["code"]), v["subject"], v["term"])
        case Kind.TIMETABLE:
            return (fold_key(v["class_name"]), v["weekday"], v["session"], v["period"])
        case Kind.FEES:
            return (fold_key(v["code"]), fold(v["name"]))
        case Kind.ATTENDANCE:
            return (fold_key(v["code"]), v["date"], v["session"])
    raise AssertionError(kind)


_DUPLICATE = {  # the column named, and the message key (import_msg.duplicate_*)
    Kind.CLASSES: ("Lớp", "duplicate_class"),
    Kind.TEACHERS: ("Mã GV", "duplicate_teacher"),
    Kind.STUDENTS: ("Mã HS", "duplicate_student"),
    Kind.GUARDIANS: ("SĐT phụ huynh", "duplicate_guardian"),
    Kind.SCORES: ("Môn", "duplicate_score"),
    Kind.TIMETABLE: ("Tiết", "duplicate_period"),
    Kind.FEES: ("Khoản thu", "duplicate_fee"),
    Kind.ATTENDANCE: ("Ngày", "duplicate_absence"),
}


def check_references(parsed: ParsedImport, known: Known) -> list[RowError]:
    """Duplicates inside the file and references to rows that exist nowhere."""
    errors: list[RowError] = []
    for kind, records in parsed.records.items():
        first: dict[tuple[object, ...], Record] = {}
        column, message = _DUPLICATE[kind]
        for r in records:
            key = _row_key(kind, r)
            if key in first:
                errors.append(RowError(r.sheet, r.row, column, _s(message, ref=first[key].ref())))
            else:
                first[key] = r

    def pool(kind: Kind, column: str, db: frozenset[str]) -> set[str]:
        rejected = {key for k, key in parsed.rejected if k is kind}
        return set(db) | rejected | {fold_key(r[column]) for r in parsed.of(kind)}

    classes = pool(Kind.CLASSES, "name", known.classes)
    students = pool(Kind.STUDENTS, "code", known.students)
    teachers = pool(Kind.TEACHERS, "code", known.teachers)

    def need(
        r: Record, column: str, value: str, pool: frozenset[str] | set[str], what: Said
    ) -> None:
        if fold_key(value) not in pool:
            errors.append(RowError(r.sheet, r.row, column, what))

    for r in parsed.of(Kind.CLASSES):
        if r["homeroom"]:
            need(r, "GVCN (mã GV)", r["homeroom"], teachers, _s("unknown_teacher"))
    homeroom_of: dict[str, tuple[str, Record]] = {}
    for r in parsed.of(Kind.CLASSES):
        if r["homeroom"]:
            homeroom_of[fold_key(r["name"])] = (fold_key(r["homeroom"]), r)
    for r in parsed.of(Kind.TEACHERS):
        for cls in r["homeroom"]:
            need(r, "Lớp chủ nhiệm", cls, classes, _s("unknown_class", name=cls[:20]))
            other = homeroom_of.get(fold_key(cls))
            if other is not None and other[0] != fold_key(r["code"]):
                errors.append(
                    RowError(
                        r.sheet,
                        r.row,
                        "Lớp chủ nhiệm",
                        _s("other_homeroom", name=cls[:20], ref=other[1].ref()),
                    )
                )
            homeroom_of.setdefault(fold_key(cls), (fold_key(r["code"]), r))
        for _subject_code, cls in r["teaches"]:
            need(r, "Môn dạy", cls, classes, _s("unknown_class", name=cls[:20]))
    for r in parsed.of(Kind.STUDENTS):
        need(r, "Lớp", r["class_name"], classes, _s("unknown_class", name=r["class_name"][:20]))
    for r in parsed.of(Kind.TIMETABLE):
        need(r, "Lớp", r["class_name"], classes, _s("unknown_class", name=r["class_name"][:20]))
    for kind in (Kind.GUARDIANS, Kind.SCORES, Kind.FEES, Kind.ATTENDANCE):
        for r in parsed.of(kind):
            need(r, "Mã HS", r["code"], students, _s("unknown_student"))
    return errors


# --- the template ----------------------------------------------------------------------


def write_template(path: Path) -> None:
    """A blank workbook: a sheet per kind with a note row (format and an example) and the
    header row; data goes from row 3."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    guide = wb.create_sheet("Hướng dẫn")
    guide.append(["Mẫu nhập dữ liệu LienLac"])
    guide.append(
        [
            "Mỗi trang một loại dữ liệu. Dòng đầu mỗi trang là ghi chú (được bỏ qua), dòng thứ "
            "hai là tiêu đề cột, dữ liệu bắt đầu từ dòng thứ ba. Trang không dùng thì để trống."
        ]
    )
    guide.append(
        [
            "Nhập: .venv/bin/python run_bot.py import tep.xlsx --school <mã trường> "
            "--name '<tên trường>'"
        ]
    )
    guide.append(["Xem trước thay đổi mà không ghi: thêm --dry-run"])
    for spec in SPECS.values():
        ws = wb.create_sheet(spec.title)
        if spec.kind is Kind.INFO:
            ws.append([spec.note])
            ws.append([c.title for c in spec.columns])
            ws.append(["Tên trường", ""])
            ws.append(["Năm học", ""])
            ws.append(["Học kỳ hiện tại", 1])
        else:
            headers = [c.title for c in spec.columns]
            if spec.kind is Kind.SCORES:
                headers += list(_SCORE_TITLES)
            example = " | ".join(_text(v) for v in spec.example)
            ws.append([f"{spec.note} Ví dụ: {example}. (Dòng ghi chú này được bỏ qua.)"])
            ws.append(headers)
            for cell in ws[2]:
                cell.font = Font(bold=True)
        ws["A1"].font = Font(italic=True, color="666666")
        for i in range(1, 12):
            ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width = 18
    wb.save(path)
