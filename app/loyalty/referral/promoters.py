"""Becoming a promoter (one click, the terms accepted), the promoter's code and share links, and the devices a
promoter uses (an order from one of them earns nothing)."""

import secrets

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from app.accounts.models import User
from app.core.errors import ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.loyalty.models.referral import Promoter, PromoterDevice

#: The terms a promoter accepts (their text is in templates/consumer/referral/join.html).
TERMS_VERSION = "2026-12"
#: Codes: no 0/O, 1/I/L, so one read aloud or off a poster is typed right.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def for_user(user_id: int) -> Promoter | None:
    return db.session.scalars(sa.select(Promoter).where(Promoter.user_id == user_id)).first()


def by_code(code: str) -> Promoter | None:
    code = (code or "").strip().upper()
    if not code or len(code) > 12:
        return None
    return db.session.scalars(sa.select(Promoter).where(Promoter.code == code)).first()


def become(user: User, *, accepted_terms: bool, device: str | None = None) -> Promoter:
    """Make the user a promoter (again: the same row; idempotent), or refuse without the terms accepted."""
    if not accepted_terms:
        raise ValidationError(_l("Please accept the promoter terms first."), code="TERMS_REQUIRED")
    if user.role != "consumer":
        raise ValidationError(_l("Only consumer accounts can become promoters."), code="NOT_CONSUMER")
    found = for_user(user.id)
    if found is None:
        dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
        for _ in range(5):  # a clash of two random codes is rare; a second promoter row for a user never happens
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            db.session.execute(dialect.insert(Promoter).values(user_id=user.id, code=code,
                                                               terms_version=TERMS_VERSION, created_at=utcnow())
                               .on_conflict_do_nothing())
            found = for_user(user.id)
            if found is not None:
                break
    if device:
        remember_device(found, device)
    db.session.commit()
    return found


def remember_device(promoter: Promoter, device: str) -> None:
    """Note a device the promoter uses (signed in, on their own pages), in the caller's transaction. Only an id
    backed by risk control's device cookie ("c…"): one made of headers alone ("h…", a browser's first request)
    is shared by every phone of the same model and language, and would refuse strangers."""
    if not device.startswith("c"):
        return
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(PromoterDevice).values(promoter_id=promoter.id, device=device[:40],
                                                             created_at=utcnow())
                       .on_conflict_do_nothing(index_elements=["promoter_id", "device"]))


def uses_device(promoter_id: int, device: str | None) -> bool:
    if not device:
        return False
    return db.session.scalar(sa.select(sa.func.count()).select_from(PromoterDevice).where(
        PromoterDevice.promoter_id == promoter_id, PromoterDevice.device == device[:40])) > 0
