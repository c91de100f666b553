"""`python run_bot.py fees reconcile` as a real process on the demo school: a bank statement
export matched by memo reference and amount, marked paid once, and one-line errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.backends.demo_data import build_demo_school
from bot.domain.payments import fee_reference
from tests.e2e.process import ROOT

PAYMENT_ENV = {
    "LIENLAC_PAYMENT__BANK_NAME": "Vietcombank",
    "LIENLAC_PAYMENT__BANK_BIN": "970436",
    "LIENLAC_PAYMENT__ACCOUNT": "0011004455667",
    "LIENLAC_PAYMENT__ACCOUNT_NAME": "TRUONG THCS DEMO",
}


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENLAC_")}
    env.update(PAYMENT_ENV, LIENLAC_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_bot.py"), "fees", "reconcile", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def unpaid_bhyt() -> list[tuple[str, str, int]]:
    """(student id, fee id, amount) of the demo's unpaid mandatory fees."""
    return [
        (f.student_id, f.id, f.amount)
        for f in build_demo_school().fees
        if f.mandatory and not f.paid
    ]


def paid_at(tmp_path: Path, fee_id: str) -> str | None:
    with sqlite3.connect(tmp_path / "data" / "lienlac.sqlite3") as db:
        row = db.execute("SELECT paid_at FROM fee_item WHERE id = ?", (fee_id,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def test_statement_is_matched_marked_paid_once_and_summarised(tmp_path: Path) -> None:
    (first, first_fee, amount), (second, second_fee, _), *_ = unpaid_bhyt()
    ref = fee_reference("demo", first, first_fee)
    other_ref = fee_reference("demo", second, second_fee)
    statement = tmp_path / "sao-ke.csv"
    statement.write_text(
        "SAO KÊ TÀI KHOẢN;;;\n"
        "Số tài khoản: 0011004455667;;;\n"
        "STT;Ngày giao dịch;Số tiền ghi có;Nội dung\n"
        f"1;01/12/2026;{amount:,};MBVCB.8812.HP {ref}.CT tu NGUYEN VAN A\n".replace(",", ".")
        + f"2;01/12/2026;600.000;hp{other_ref.lower()} chuyen tien\n"
        "3;02/12/2026;500.000;ung ho quy lop\n"
        "4;02/12/2026;-50.000;phi dich vu\n"
        "\n",
        encoding="utf-8-sig",
    )
    dry = cli(tmp_path, "--file", str(statement), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "3 credit lines: 1 matched (dry run, nothing written)" in dry.stdout, dry.stdout
    assert "1 amount mismatch, 0 already paid, 1 unknown reference." in dry.stdout
    assert paid_at(tmp_path, first_fee) is None

    done = cli(tmp_path, "--school", "demo", "--file", str(statement))
    assert done.returncode == 0, done.stderr
    assert "1 matched (1 marked paid)" in done.stdout, done.stdout
    assert f"line 4 (01/12/2026): 631.800 ₫: {ref} = Bảo hiểm y tế" in done.stdout
    assert "Amount differs" in done.stdout and "the fee is 631.800 ₫" in done.stdout
    assert "HS7A" not in done.stdout + done.stderr  # no student code printed
    assert paid_at(tmp_path, first_fee) is not None
    assert paid_at(tmp_path, second_fee) is None

    again = cli(tmp_path, "--file", str(statement))
    assert "0 matched (nothing to mark paid), 1 amount mismatch, 1 already paid" in again.stdout


def test_english_headers_and_comma_separated_amounts(tmp_path: Path) -> None:
    (student, fee_id, amount), *_ = unpaid_bhyt()
    statement = tmp_path / "statement.csv"
    statement.write_text(
        "Date,Description,Debit,Credit Amount\n"
        f'2026-12-01,"IBFT HP{fee_reference("demo", student, fee_id)} ",,"{amount:,}.00"\n',
        encoding="utf-8",
    )
    done = cli(tmp_path, "--file", str(statement))
    assert done.returncode == 0, done.stderr
    assert "1 credit lines: 1 matched (1 marked paid)" in done.stdout, done.stdout


def test_unreadable_statements_fail_with_one_line(tmp_path: Path) -> None:
    bad_amount = tmp_path / "bad-amount.csv"
    bad_amount.write_text("Ngày,Số tiền,Nội dung\n01/12/2026,abc,HP X\n", encoding="utf-8")
    no_header = tmp_path / "no-header.csv"
    no_header.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Ngày,Số tiền,Nội dung\n".encode("utf-16"))
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    cases = {
        "missing.csv": "cannot read it",
        str(bad_amount): "line 2: amount 'abc' is not a number",
        str(no_header): "no header row",
        str(latin): "not UTF-8",
        str(empty): "empty",
    }
    for path, reason in cases.items():
        done = cli(tmp_path, "--file", path)
        assert done.returncode == 2, (path, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0], (path, done.stderr)
    unknown = cli(tmp_path, "--school", "nowhere", "--file", str(bad_amount))
    assert unknown.returncode == 2 and "No school 'nowhere'" in unknown.stderr
