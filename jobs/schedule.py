"""Every periodic job in one list: (function, queue, interval in seconds)."""

import os

from jobs import (
    callbacks,
    documents,
    fulfilment,
    imports,
    insight,
    issuance,
    loyalty_levels,
    loyalty_points,
    loyalty_referral,
    loyalty_subs,
    maintenance,
    marketing,
    notifications,
    payments,
    procurement,
    risk,
    service,
    service_voids,
)

#: The delivery sweep's interval (seconds); tests that kill workers run it every second.
SWEEP_SECONDS = int(os.environ.get("FULFILMENT_SWEEP_SECONDS", "15"))

PERIODIC = [
    (fulfilment.sweep, "fulfilment", SWEEP_SECONDS),
    (fulfilment.replenish, "fulfilment", 300),
    (maintenance.expire_orders, "maintenance", 60),
    (marketing.expire_groups, "maintenance", 60),
    (maintenance.expire_entitlements, "maintenance", 3600),
    (maintenance.fold_stock_counts, "maintenance", 60),
    (marketing.advance_campaigns, "maintenance", 60),
    (marketing.resume_stalled_runs, "default", 300),
    (payments.process_refunds, "payments", 120),
    (imports.resume_stalled_imports, "imports", 300),
    (service_voids.resume_voids, "default", 300),
    (issuance.resume_stalled_issuance, "issuance", 60),
    (notifications.sweep_outbox, "notifications", 60),
    (notifications.remind_expiring, "notifications", 3600),
    (callbacks.sweep, "callbacks", 30),
    (procurement.resume_stalled_requests, "issuance", 60),
    (procurement.remind_approvals, "notifications", 900),
    (procurement.reclaim_expired, "maintenance", 3600),
    (documents.resume_stalled_statements, "documents", 300),
    # daily: last month's commissions no batch has claimed (all of them on the first run in a month)
    (documents.settle_commissions, "documents", 86400),
    # daily: yesterday's settlement file and supplier bills against our records (a rerun duplicates nothing)
    (documents.reconcile, "documents", 86400),
    # hourly: "often bought together" from paid retail orders (marketing offers)
    (marketing.compute_cross_sell, "maintenance", 3600),
    # risk control: overdue review holds escalate; alerts to the ops inbox (each said once an hour at most)
    (risk.escalate_reviews, "notifications", 60),
    (risk.risk_alerts, "notifications", 300),
    # referral: commissions past their refund window go into the promoters' wallets (hourly)
    (loyalty_referral.mature_commissions, "maintenance", 3600),
    # member levels: hourly re-evaluation (downgrades announced ahead); the monthly coupon, once a member a month
    (loyalty_levels.evaluate_levels, "maintenance", 3600),
    (loyalty_levels.give_level_gifts, "maintenance", 3600),
    # subscriptions: due renewal charges (and retries); reminders; agreements of cancelled plans to unsign
    (loyalty_subs.charge_due, "payments", 300),
    (loyalty_subs.remind, "notifications", 3600),
    (loyalty_subs.unsign_pending, "payments", 300),
    (loyalty_points.expire_points, "maintenance", 3600),  # points: ended lots expire (hourly)
    (loyalty_points.remind_points_expiring, "notifications", 3600),  # points: reminders before they expire
    # dashboard: yesterday's (and any missed recent day's) sales roll-ups, hourly; today is read live
    (insight.roll_up_sales, "maintenance", 3600),
    # dashboard: past days' product page views out of Redis, the last days' SKU roll-ups again (idempotent)
    (insight.roll_operations, "maintenance", 600),
    # insight: the margin report's daily roll-up (finished days lately booked on; today is read live)
    (insight.refresh_margin, "maintenance", 3600),
    # after-sales cases: open ones past their SLA (SERVICE_CASE_SLA_HOURS) escalate once
    (service.escalate_cases, "notifications", 300),
]
