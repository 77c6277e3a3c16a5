"""The one way money reads: `cny` for people (pages, PDFs, messages), `yuan` for machines, numbers in XLSX."""

import io
from decimal import Decimal

import openpyxl
import pytest

from app.core import tables
from app.core.money import XLSX_FORMAT, cny, xlsx_number, yuan


@pytest.mark.parametrize(("fen", "text"), [
    (0, "¥0.00"), (5, "¥0.05"), (2850, "¥28.50"), (99_999, "¥999.99"), (100_000, "¥1,000.00"),
    (4_989_992, "¥49,899.92"), (999_999_600, "¥9,999,996.00"), (-123_450, "-¥1,234.50"), (-5, "-¥0.05"),
])
def test_cny_has_thousands_separators_two_decimals_and_the_sign_first(fen, text):
    assert cny(fen) == text


def test_yuan_stays_machine_readable():
    assert (yuan(4_989_992), yuan(-123_450)) == ("49899.92", "-1234.50")
    assert xlsx_number(4_989_992) == Decimal("49899.92")


def test_tables_write_money_as_numbers_with_a_thousands_format():
    sheet = tables.Sheet("s", ["name", "amount"], [["a", 4_989_992], ["b", -123_450]], money={1})
    ws = openpyxl.load_workbook(io.BytesIO(tables.to_xlsx(sheet))).active
    assert [(c.value, c.number_format) for c in (ws["B2"], ws["B3"])] == [(49899.92, XLSX_FORMAT),
                                                                         (-1234.5, XLSX_FORMAT)]
    assert "#,##0.00" in XLSX_FORMAT
    assert tables.to_csv(sheet).splitlines()[1:] == ["a,49899.92", "b,-1234.50"]
