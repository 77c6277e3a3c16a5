"""Every periodic job in one list: (function, queue, interval in seconds)."""

import os

from jobs import callbacks, fulfilment, imports, issuance, maintenance, notifications, payments

#: The delivery sweep's interval (seconds); tests that kill workers run it every second.
SWEEP_SECONDS = int(os.environ.get("FULFILMENT_SWEEP_SECONDS", "15"))

PERIODIC = [
    (fulfilment.sweep, "fulfilment", SWEEP_SECONDS),
    (fulfilment.replenish, "fulfilment", 300),
    (maintenance.expire_orders, "maintenance", 60),
    (maintenance.expire_entitlements, "maintenance", 3600),
    (payments.process_refunds, "payments", 120),
    (imports.resume_stalled_imports, "imports", 300),
    (issuance.resume_stalled_issuance, "issuance", 60),
    (notifications.sweep_outbox, "notifications", 60),
    (notifications.remind_expiring, "notifications", 3600),
    (callbacks.sweep, "callbacks", 30),
]
