"""Every periodic job in one list: (function, queue, interval in seconds)."""

from jobs import imports, maintenance, payments

PERIODIC = [
    (maintenance.expire_orders, "maintenance", 60),
    (maintenance.expire_entitlements, "maintenance", 3600),
    (payments.process_refunds, "payments", 120),
    (imports.resume_stalled_imports, "imports", 300),
]
