"""Public numbers (orders, statements, batches, requests, invoices): distinct even when drawn in a burst,
sortable by time, as long as they always were."""

import time

from app.core.ids import order_no
from app.finance.models import SettlementBatch, Statement
from app.orders.models import Order
from app.procurement.models import Invoice, ProcurementRequest


def test_numbers_drawn_in_a_burst_are_all_distinct():
    """To the second with six random digits, 5,000 numbers drawn at once held a dozen duplicates on average
    (a 2,000-order race on PostgreSQL failed now and then on the unique constraint)."""
    numbers = [order_no("W") for _ in range(5000)]
    assert len(set(numbers)) == len(numbers)


def test_numbers_sort_by_time():
    first = order_no("W")
    time.sleep(0.002)
    assert first[:-2] < order_no("W")[:-2]


def test_numbers_keep_their_length_and_fit_their_columns():
    """Prefix + 20 digits, as before: pages show them whole, and a longer one overflowed a phone screen."""
    for prefix, column in [("Q", Order.order_no), ("W", Order.order_no), ("ST", Statement.statement_no),
                           ("CS", SettlementBatch.batch_no), ("PR", ProcurementRequest.request_no),
                           ("INV", Invoice.invoice_no)]:
        number = order_no(prefix)
        assert len(number) == len(prefix) + 20 <= column.type.length and number[len(prefix):].isdigit()
