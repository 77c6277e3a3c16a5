"""Human, translated labels for stored codes (statuses, categories, roles, account names).

Stored values stay stable English codes; pages show `{{ value|label("order") }}`.
"""

from flask_babel import lazy_gettext as _l

LABELS = {
    "order": {
        "pending_payment": _l("Awaiting payment"), "paid": _l("Paid"), "delivered": _l("Delivered"),
        "cancelled": _l("Cancelled"), "expired": _l("Closed (unpaid)"), "refunded": _l("Refunded"),
    },
    #: A held order's review (risk control).
    "review": {"pending": _l("Waiting for review"), "approved": _l("Approved"), "rejected": _l("Rejected")},
    #: A group buy's group (marketing).
    "group": {"open": _l("Filling"), "filled": _l("Filled"), "failed": _l("Failed (refunded)")},
    "benefit": {"unused": _l("Unused"), "used": _l("Used"), "expired": _l("Expired"),
                "pending": _l("Being delivered"), "refunded": _l("Refunded"), "reclaimed": _l("Taken back by the employer")},
    #: An order's delivery, derived from its units (a bundle's components).
    "fulfilment": {
        "delivered": _l("Delivered"), "partially_delivered": _l("Partially delivered"), "failed": _l("Failed"),
        "in_progress": _l("Delivering"), "refunded": _l("Refunded"),
    },
    "delivery": {
        "awaiting_account": _l("Waiting for an account"), "queued": _l("Queued"),
        "accepted": _l("Accepted by supplier"), "delivered": _l("Delivered"), "failed": _l("Failed"),
        "refunded": _l("Refunded"), "expired": _l("Expired"),
    },
    "attempt_outcome": {
        "delivered": _l("Delivered"), "accepted": _l("Accepted"), "failed": _l("Failed"),
        "unavailable": _l("Unavailable"), "rejected": _l("Rejected"), "unknown": _l("Unknown (no clear answer)"),
        "manual": _l("By hand"), "refunded": _l("Refunded"), "retry": _l("Retry requested"),
        "switched": _l("Supplier switched"),
    },
    "attempt_action": {
        "submitted": _l("Submitted to the supplier"), "polled": _l("Asked the supplier"),
        "callback": _l("Supplier called back"), "checked": _l("Checked with the supplier"),
        "retry": _l("Retry by ops"), "switch": _l("Supplier switched by ops"), "manual": _l("Delivered by hand"),
        "refund": _l("Refunded by ops"),
    },
    #: Reasons the engine records on a delivery's state changes.
    "delivery_reason": {
        "supplier accepted": _l("The supplier accepted the order"), "supplier delivered": _l("The supplier delivered"),
        "retry": _l("Retry scheduled"), "failover": _l("Moved to the next supplier"),
        "retries exhausted": _l("Retries exhausted"), "retry by ops": _l("Retry by ops"),
        "supplier switched by ops": _l("Supplier switched by ops"), "delivered by hand": _l("Delivered by hand"),
        "refunded by ops": _l("Refunded by ops"), "redeemed": _l("Redeemed to an account"),
        "never redeemed": _l("Never redeemed"),
    },
    "sku_source": {"stock": _l("Own stock"), "shared": _l("Shared (loop) codes"), "supplier": _l("Supplier")},
    "account_format": {"mobile": _l("Mobile number"), "qq": _l("QQ number"), "email": _l("Email account"),
                       "game_id": _l("Game id")},
    "category": {
        "video": _l("Video"), "music": _l("Music"), "food": _l("Food delivery"), "coffee": _l("Coffee & tea"),
        "game": _l("Games"), "course": _l("Courses"), "other": _l("Other"),
    },
    "sku_type": {
        "card_code": _l("Card code"), "direct_topup": _l("Direct top-up"), "link": _l("Redemption link"),
        "bundle": _l("Joint membership bundle"),
    },
    "role": {
        "consumer": _l("Consumer"), "employee": _l("Employee"), "reseller": _l("Reseller"),
        "hr_admin": _l("HR admin"), "approver": _l("Approver"), "finance": _l("Finance"), "ops": _l("Operations"),
        "service": _l("Customer service"), "admin": _l("Administrator"),
    },
    "account_type": {
        "asset": _l("Asset"), "liability": _l("Liability"), "equity": _l("Equity"), "revenue": _l("Revenue"),
        "expense": _l("Expense"),
    },
    #: Ledger account names by account code (the chart lives in app/ledger/services.py).
    "account": {
        "1122": _l("Payment gateway receivable"), "2203": _l("Customer prepayments (undelivered orders)"),
        "2243": _l("Promoter withdrawals payable"), "6603": _l("Promoter commissions"),
        "2241": _l("Refunds payable"), "6001": _l("Sales revenue"),
        "1405": _l("Card-code inventory bought from suppliers"), "2202": _l("Accounts payable to suppliers"),
        "6401": _l("Cost of sales (supplier purchases)"), "1002": _l("Bank deposits"),
        "2204": _l("Reseller prepaid balances"), "2205": _l("Commissions payable to agents"),
        "6602": _l("Agent commissions"), "2206": _l("Enterprise prepaid balances"),
        "2207": _l("Revenue shares payable to partners"), "6402": _l("Revenue shares of joint memberships"),
        "6003": _l("Sales discounts (marketing)"),
        "2208": _l("Customer wallet balances"), "2209": _l("Gift cards outstanding"),
        "6604": _l("Stored-value bonuses (marketing)"),
    },
    "journal": {"payment": _l("Payment received"), "revenue": _l("Revenue on delivery"), "refund": _l("Refund"),
                "referral_commission": _l("Promoter commission"),
                "referral_withdrawal": _l("Promoter withdrawal"),
                "supplier_cost": _l("Supplier cost"), "stock_purchase": _l("Stock bought from a supplier"),
                "breakage": _l("Unredeemed benefit expired"), "reseller_opening": _l("Opening balance"),
                "reseller_topup": _l("Balance top-up"), "wholesale_order": _l("Wholesale order paid"),
                "wholesale_refund": _l("Refund to balance"), "commission": _l("Agent commission"),
                "enterprise_payment": _l("Procurement request paid"), "enterprise_deposit": _l("Bank transfer received"),
                "enterprise_credit": _l("Unclaimed benefits credited back"),
                "enterprise_reclaim": _l("Revenue reversed: benefit taken back"),
                "unit_taken_back": _l("Revenue reversed: gift taken back"), "adjustment": _l("Adjustment"),
                "commission_settlement": _l("Commission paid into the balance"),
                "revenue_share": _l("Partner's share of a joint membership"),
                "revenue_share_reversed": _l("Partner's share reversed: benefit taken back"),
                "wallet_pay": _l("Paid from the wallet"), "wallet_refund": _l("Refund to the wallet"),
                "wallet_topup": _l("Stored-value top-up"), "wallet_bonus": _l("Stored-value bonus"),
                "gift_card_sold": _l("Gift card sold"), "gift_redeem": _l("Gift card redeemed")},
    "counterparty": {"reseller": _l("Reseller"), "enterprise": _l("Enterprise"), "partner": _l("Partner"),
                     "user": _l("Customer")},
    "settlement": {"pending": _l("Waiting for approval"), "posted": _l("Posted"), "rejected": _l("Rejected")},
    "proposal": {"pending": _l("Waiting for approval"), "approved": _l("Approved and posted"),
                 "rejected": _l("Rejected"), "withdrawn": _l("Withdrawn")},
    "statement": {"queued": _l("Waiting for a worker"), "generating": _l("Generating"),
                  "ready": _l("Waiting for approval"), "approved": _l("Approved"), "superseded": _l("Superseded"),
                  "failed": _l("Failed")},
    "recon_run": {"matched": _l("Matched"), "mismatched": _l("Mismatches found"), "failed": _l("File not fetched")},
    "recon_kind": {"missing_ours": _l("Missing on our side"), "missing_theirs": _l("Missing on theirs"),
                   "amount_differs": _l("Amount differs")},
    "recon_source": {"paygate": _l("Payment gateway"), "supplier": _l("Supplier")},
    "recon_item": {"open": _l("Open"), "resolved": _l("Resolved")},
    "recon_line": {"payment": _l("Payment"), "refund": _l("Refund"), "delivery": _l("Supplier delivery"),
                   "replenishment": _l("Stock purchase"), "unknown": _l("Unknown to us")},
    "code_status": {
        "available": _l("Available"), "reserved": _l("Reserved"), "delivered": _l("Delivered"),
        "void": _l("Void"),
    },
    "import_phase": {"queued": _l("Waiting for a worker"), "checking": _l("Checking lines"),
                     "importing": _l("Importing codes")},
    "topup": {"submitted": _l("Waiting for finance"), "approved": _l("Approved"), "rejected": _l("Rejected")},
    #: A wholesale order's status as the reseller console and API show it (docs/reseller-api.md).
    "wholesale": {"processing": _l("Processing"), "delivered": _l("Delivered"),
                  "partially_delivered": _l("Partially delivered"), "failed": _l("Failed"), "refunded": _l("Refunded")},
    #: A large order's issuance: its status while queued, then its phase while running.
    "issuance": {"queued": _l("Waiting for a worker"), "issuing": _l("Issuing codes"),
                 "files": _l("Writing the CSV and XLSX files"), "done": _l("Done")},
    "callback": {"pending": _l("Pending"), "delivered": _l("Delivered"), "failed": _l("Failed")},
    "request": {
        "draft": _l("Draft"), "pending": _l("Awaiting approval"), "returned": _l("Returned for changes"),
        "rejected": _l("Rejected"), "awaiting_payment": _l("Awaiting payment"), "paid": _l("Paid, issuing"),
        "issued": _l("Issued"), "cancelled": _l("Cancelled"),
    },
    "step": {"queued": _l("Not yet"), "waiting": _l("Waiting"), "approved": _l("Approved"),
             "rejected": _l("Rejected"), "returned": _l("Returned"), "skipped": _l("Skipped")},
    "request_action": {
        "created": _l("Created"), "edited": _l("Edited"), "submitted": _l("Submitted"),
        "approved": _l("Approved"), "rejected": _l("Rejected"), "returned": _l("Returned for changes"),
        "cancelled": _l("Cancelled"), "invoiced": _l("Invoice issued"), "paid": _l("Paid"),
        "issued": _l("Benefits issued"), "reminded": _l("Reminder sent"),
    },
    "target": {"employees": _l("Chosen employees"), "department": _l("A whole department"),
               "pool": _l("Into the company pool")},
    "reclaim_mode": {"pool": _l("Return to the company pool"), "credit": _l("Credit back to the balance")},
    "pack_kind": {"fixed": _l("Fixed set"), "choice": _l("Choose one of N")},
    "grant": {"pooled": _l("In the pool"), "issued": _l("Not claimed yet"), "claimed": _l("Claimed"),
              "reclaimed": _l("Taken back"), "credited": _l("Credited back")},
    "invoice": {"issued": _l("Awaiting transfer"), "paid": _l("Paid"), "cancelled": _l("Cancelled")},
    "step_kind": {"department_approver": _l("The department's approver"), "user": _l("A named person")},
    "import_source": {"console": _l("Console"), "cli": _l("Command line"), "supplier": _l("Supplier")},
    "import": {
        "pending": _l("Waiting"), "running": _l("Importing"), "done": _l("Done"), "rejected": _l("Rejected"),
        "failed": _l("Failed"),
    },
    "campaign": {"draft": _l("Draft"), "scheduled": _l("Scheduled"), "live": _l("Live"), "ended": _l("Ended")},
    "segment_run": {"queued": _l("Waiting"), "running": _l("Running"), "done": _l("Done"), "failed": _l("Failed")},
    "risk_point": {"signup": _l("Sign-up"), "login": _l("Sign-in"), "checkout": _l("Checkout"),
                   "coupon_claim": _l("Coupon claim"), "flash_entry": _l("Flash-sale entry"),
                   "group_join": _l("Group-buy join"), "topup_redeem": _l("Top-up redemption"),
                   "code_reveal": _l("Code reveal"), "api_order": _l("Reseller API order")},
    "risk_action": {"allow": _l("Let through"), "challenge": _l("Challenge"), "review": _l("Review"), "block": _l("Block")},
    "risk_list": {"black": _l("Black list"), "white": _l("White list")},
    "subscription_status": {"signing": _l("Waiting for signature"), "active": _l("Active"),
                            "charging": _l("Charging"), "retrying": _l("Charge failed, retrying"),
                            "suspended": _l("Suspended"), "cancelled": _l("Cancelled")},
    "subscription_charge_status": {"pending": _l("In progress"), "succeeded": _l("Paid"), "failed": _l("Failed")},
    #: Where an order's discount came from (marketing's order_promotions.source).
    "promotion_source": {"coupon": _l("Coupon"), "flash_sale": _l("Flash sale"), "group_buy": _l("Group buy"),
                         "first_order": _l("First-order offer"), "cross_sell": _l("Bought together")},
    #: After-sales cases (app/service).
    "case_status": {"open": _l("Awaiting handling"), "in_progress": _l("Being handled"), "replaced": _l("Replaced"),
                    "refunded": _l("Refunded"), "rejected": _l("Rejected")},
    "case_reason": {"code_invalid": _l("The code does not work"), "already_used": _l("The code was already used"),
                    "topup_missing": _l("The top-up has not arrived"), "wrong_account": _l("Topped up the wrong account"),
                    "other": _l("Something else")},
    "case_event": {"opened": _l("Case opened"), "taken": _l("Taken up by our team"), "note": _l("Note"),
                   "supplier_query": _l("Supplier asked"), "replaced": _l("Replaced"), "refunded": _l("Refunded"),
                   "rejected": _l("Rejected"), "escalated": _l("Escalated")},
    "case_source": {"buyer": _l("Buyer"), "reseller": _l("Reseller"), "staff": _l("Staff"),
                    "batch_void": _l("Batch void")},
    # an RQ worker's state (the ops system page)
    "worker_state": {"idle": _l("Idle"), "busy": _l("Busy"), "started": _l("Starting"),
                     "suspended": _l("Suspended")},
}


def label(value, kind: str) -> str:
    """The translated label, or the value itself when there is none (never an error on a page)."""
    labels = LABELS.get(kind, {})
    if kind == "account" and str(value) not in labels and "." in str(value):
        return labels.get(str(value).partition(".")[0], value)  # a counterparty's sub-account
    return labels.get(str(value), value)
