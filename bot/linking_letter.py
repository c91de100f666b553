"""The printed linking letter (issue 18): one A4 page per family the school does not reach in
chat, telling the parent how to link with their child's code. The office prints a class's
letters from its web page (``/admin/class/{id}/letters.pdf``) and sends them home.

The same fpdf2 setup and font as the printed contact book (:mod:`bot.contact_book`). The
student code is printed on paper for that family only; the phone is shown masked.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.contact_book import font_paths
from bot.domain.models import Guardian, SchoolContact, Student
from bot.domain.phone import mask_phone
from bot.i18n import Catalog


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    student: Student
    guardians: Sequence[Guardian]


def _qr_png(url: str) -> bytes:
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=6, border=2)
    return out.getvalue()


def render(
    families: Sequence[Family],
    *,
    school_name: str,
    contact: SchoolContact,
    catalog: Catalog,
    locale: str = "vi",
) -> bytes:
    from fpdf import FPDF

    def t(key: str, /, **values: object) -> str:
        return catalog.t(locale, f"letter.{key}", **values)

    logging.getLogger("fontTools").setLevel(logging.WARNING)
    regular, bold = font_paths()
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))
    pdf.set_title(t("title"))
    width = pdf.w - pdf.l_margin - pdf.r_margin
    telegram = f"https://t.me/{contact.telegram_username}" if contact.telegram_username else ""
    if not families:
        pdf.add_page()
        pdf.set_font("DejaVu", "", 12)
        pdf.multi_cell(width, 7, t("empty"), new_x="LMARGIN", new_y="NEXT")
    for family in families:
        student = family.student
        pdf.add_page()
        pdf.set_font("DejaVu", "", 10)
        pdf.cell(width, 6, school_name, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "B", 16)
        pdf.cell(width, 12, t("title"), align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 11)
        names = ", ".join(f"{g.relation} {g.name}".strip() for g in family.guardians)
        pdf.multi_cell(
            width,
            6,
            t(
                "dear",
                guardians=names or t("parents"),
                name=student.full_name,
                cls=student.class_name,
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(2)
        pdf.multi_cell(width, 6, t("why"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(width, 8, t("code", code=student.code), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 11)
        phones = ", ".join(mask_phone(g.phone) for g in family.guardians if g.phone)
        steps = [
            t("step_open_telegram", link=telegram) if telegram else t("step_open"),
            *([t("step_open_zalo", link=contact.zalo_link)] if contact.zalo_link else []),
            t("step_code", code=student.code),
            t("step_otp", phones=phones or t("phone_on_file")),
            t("step_done"),
        ]
        for n, step in enumerate(steps, start=1):
            pdf.multi_cell(width, 6, f"{n}. {step}", new_x="LMARGIN", new_y="NEXT")
        if telegram:
            top = pdf.get_y() + 3
            pdf.image(io.BytesIO(_qr_png(telegram)), x=pdf.l_margin, y=top, w=32, h=32)
            pdf.set_y(top + 34)
        pdf.ln(3)
        if contact.phone:
            pdf.multi_cell(
                width, 6, t("help_phone", phone=contact.phone), new_x="LMARGIN", new_y="NEXT"
            )
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(width, 5, t("privacy"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
