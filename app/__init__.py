"""Quanyi: create_app() binds the extensions, the portals and the CLI."""

import logging
import os
import secrets

from flask import Flask

from app.config import INSTANCE, PUBLISHED_DEFAULTS, Config


def create_app(config: type[Config] | None = None) -> Flask:
    app = Flask(__name__, template_folder="../templates", static_folder="../static",
                instance_path=str(INSTANCE))
    app.config.from_object(config or Config)
    from app import logs

    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    os.makedirs(app.instance_path, exist_ok=True)
    _embedded_defaults(app)
    _session_cookies(app)
    _behind_proxies(app)

    from app import db_setup, queues
    from app.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate
    from app.web import i18n

    logs.init_app(app)
    db_setup.engine_options(app)
    db.init_app(app)
    db_setup.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    queues.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", queues.limiter_storage_uri(app))
    limiter.init_app(app)

    _import_models()
    _connect_domains(app)
    from app import web

    web.init_app(app)
    from app import cli

    cli.init_app(app)
    return app


def _behind_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES reverse proxies (nginx, a load balancer) the client's address is the one they
    appended to X-Forwarded-For, and the scheme the one the nearest put in X-Forwarded-Proto: the login lock-out,
    the rate limits, risk control and the audit log see the client, not the proxy. Only that many hops are
    believed (a client can send the headers too), so the setting must match the proxies really in front
    (docs/deploy.md). The Host header is nginx's to pass on (proxy_set_header Host), X-Forwarded-Host is not
    read."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=1)


def _embedded_defaults(app: Flask) -> None:
    """The embedded default keeps its secrets in instance/ so one command can run everything.

    On a shared database they must come from the environment: a key generated per machine would leave
    each machine unable to read what the others encrypted.
    """
    from app.core.vault import new_master_key

    embedded = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    for key, make, name in (("SECRET_KEY", lambda: secrets.token_hex(32), "secret_key"),
                            ("QUANYI_MASTER_KEY", new_master_key, "master.key")):
        if app.config.get(key):
            continue
        if not embedded:
            raise RuntimeError(f"{key} must be set when DATABASE_URL points at a shared database "
                               f"(generate a master key with `quanyi keys generate`)")
        path = os.path.join(app.instance_path, name)
        if not os.path.exists(path):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(make())
            logging.getLogger(__name__).warning("%s was not set: generated one into %s", key, path)
        with open(path) as f:
            app.config[key] = f.read().strip()
    if not embedded:
        published = [key for key, value in PUBLISHED_DEFAULTS.items() if app.config.get(key) == value]
        if published:
            raise RuntimeError(f"{', '.join(published)}: still the value published with the code, which anyone "
                               "could sign with. Set your own secret in the environment (README, \"Beyond one machine\").")


def _session_cookies(app: Flask) -> None:
    """Cookies are Secure whenever the site is served over HTTPS, and never outlive the longest session."""
    secure = app.config["PUBLIC_URL"].lower().startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = secure
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config["SESSION_MAX_HOURS_OTHERS"] * 3600


def _connect_domains(app: Flask) -> None:
    """Each domain that reacts to one below it (a paid order, a delivered unit, a settled order, a refund) or
    names its counterparties in the ledger connects here, bottom to top (README, "Code map")."""
    from app.channels import hooks as channels
    from app.finance import hooks as finance
    from app.fulfilment import hooks as fulfilment
    from app.inventory import hooks as inventory
    from app.loyalty import hooks as loyalty
    from app.marketing import hooks as marketing
    from app.notifications import hooks as notifications
    from app.procurement import hooks as procurement
    from app.risk import hooks as risk

    for domain in (notifications, inventory, risk, fulfilment, finance, channels, procurement, marketing,
                   loyalty):
        domain.init_app(app)


def _import_models() -> None:
    from app.accounts import models as _a  # noqa: F401
    from app.catalog import models as _c  # noqa: F401
    from app.channels import models as _ch  # noqa: F401
    from app.core import hooks as _hooks  # noqa: F401
    from app.core import models as _core  # noqa: F401
    from app.core import rejections as _rej  # noqa: F401
    from app.finance import models as _fi  # noqa: F401
    from app.fulfilment import models as _f  # noqa: F401
    from app.insight import margin_models as _im  # noqa: F401
    from app.insight import models as _ins  # noqa: F401
    from app.insight import operations_models as _iops  # noqa: F401
    from app.inventory import models as _i  # noqa: F401
    from app.ledger import models as _l  # noqa: F401
    from app.loyalty import models as _lo  # noqa: F401
    from app.marketing import models as _m  # noqa: F401
    from app.notifications import models as _n  # noqa: F401
    from app.orders import models as _o  # noqa: F401
    from app.payments import models as _p  # noqa: F401
    from app.procurement import models as _pr  # noqa: F401
    from app.risk import models as _r  # noqa: F401
    from app.service import models as _sv  # noqa: F401
    from app.service import void_models as _svv  # noqa: F401
    from app.suppliers import models as _s  # noqa: F401
