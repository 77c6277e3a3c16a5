"""The rules Quanyi ships with: enforced from the first `db upgrade` (migration 0029 writes them), tuned on the
simulated flash-sale rush (tests/reliability/test_risk_simulation.py) to stop a scalper ring while leaving
ordinary buyers alone. Ops change or switch off any of them in the console; `install()` puts back the missing
ones. Pure data: the migration imports it."""

C = dict  # a condition: feature, op, value

RULES = [
    dict(key="white_list", priority=0, name="White-listed", weight=0, action="allow", point=None,
         description="Anything on the white list is let through; the rules after this one are not asked.",
         conditions=[C(feature="white_listed", op="=", value=True)]),
    dict(key="black_list", priority=1, name="Black-listed", weight=1000, action="block", point=None,
         description="Anything on the black list (account, phone, email or domain, IP or range, device, "
                     "top-up account) is refused.",
         conditions=[C(feature="black_listed", op="=", value=True)]),
    dict(key="flash_device_ring", priority=10, name="Flash sale: many accounts on one device", weight=100,
         action="block", point="flash_entry",
         description="A device that four or more accounts used within a day is a scalper's (黄牛) device.",
         conditions=[C(feature="device_accounts", op=">=", value=4)]),
    dict(key="flash_ip_ring", priority=20, name="Flash sale: many accounts from one IP", weight=40,
         action="allow", point="flash_entry",
         description="Ten or more accounts from one IP within a day: ask for a challenge (with the score "
                     "threshold of 40).",
         conditions=[C(feature="ip_accounts", op=">=", value=10)]),
    dict(key="flash_new_account", priority=30, name="Flash sale: brand-new account", weight=20, action="allow",
         point="flash_entry", description="Accounts younger than 30 minutes add to the score.",
         conditions=[C(feature="account_age_minutes", op="<", value=30)]),
    dict(key="checkout_device_accounts", priority=40, name="Checkout: many accounts on one device", weight=40,
         action="allow", point="checkout",
         description="Eight or more accounts on one device within a day.",
         conditions=[C(feature="device_accounts", op=">=", value=8)]),
    dict(key="checkout_device_burst", priority=50, name="Checkout: burst from one device", weight=60,
         action="allow", point="checkout", description="Fifty or more checkouts from one device in 10 minutes.",
         conditions=[C(feature="attempts_device_10m", op=">=", value=50)]),
    dict(key="checkout_amount_spike", priority=60, name="Checkout: far above the buyer's usual amount",
         weight=70, action="allow", point="checkout",
         description="Eight times the buyer's usual order and at least ¥500: held for review.",
         conditions=[C(feature="amount_ratio", op=">=", value=8), C(feature="amount", op=">=", value=500)]),
    dict(key="checkout_failed_payments", priority=70, name="Checkout: repeated failed payments", weight=50,
         action="allow", point="checkout", description="Five or more failed payments in an hour.",
         conditions=[C(feature="failed_payments_user_1h", op=">=", value=5)]),
    dict(key="checkout_topup_velocity", priority=80, name="Checkout: one top-up account, many orders",
         weight=50, action="allow", point="checkout",
         description="Ten or more orders for one top-up account within a day (cashing out).",
         conditions=[C(feature="orders_topup_24h", op=">=", value=10)]),
    dict(key="signup_disposable_email", priority=90, name="Sign-up with a disposable email", weight=50,
         action="allow", point="signup", description="Throwaway mailboxes ask for a challenge.",
         conditions=[C(feature="email_disposable", op="=", value=True)]),
    dict(key="login_ip_burst", priority=100, name="Sign-in burst from one IP", weight=60, action="allow",
         point="login", description="Two hundred sign-in attempts from one IP in 10 minutes (credential "
                                    "stuffing) ask for a challenge.",
         conditions=[C(feature="attempts_ip_10m", op=">=", value=200)]),
]


def install() -> int:
    """Add the shipped rules that are missing (by key), enforced. Returns how many were added."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.risk import rules
    from app.risk.models import RiskRule

    have = set(db.session.scalars(sa.select(RiskRule.key).where(RiskRule.key.is_not(None))))
    added = 0
    for data in RULES:
        if data["key"] not in have:
            db.session.add(RiskRule(**data, observe=False, enabled=True))
            added += 1
    db.session.commit()
    rules.changed()
    return added
