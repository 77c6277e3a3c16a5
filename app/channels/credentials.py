"""API credentials: a public key and a sealed secret (the HMAC needs it back), shown once when made."""

import ipaddress
import secrets

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from app.channels.models import ApiCredential, Reseller
from app.core import vault
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db

#: A reseller may keep this many active keys (two lets it move a client to a new key without a gap).
MAX_ACTIVE = 5


def _new_secret() -> str:
    return secrets.token_hex(32)


def _seal(secret: str) -> tuple[int, bytes]:
    sealer = vault.Sealer()
    return sealer.key_id, sealer.seal(secret)


def create(reseller: Reseller, actor_id: int | None, label: str = "", commit: bool = True, *,
           api_key: str | None = None, secret: str | None = None) -> tuple[ApiCredential, str]:
    """A new key for the reseller; returns it with its secret, which is never shown again. (`api_key` and
    `secret` are given only by the demo seed, whose published demo key must be stable.)"""
    active = db.session.scalar(sa.select(sa.func.count()).select_from(ApiCredential)
                               .where(ApiCredential.reseller_id == reseller.id, ApiCredential.active.is_(True)))
    if active >= MAX_ACTIVE:
        raise ValidationError(_l("You already have %(n)s active keys. Disable one first.", n=MAX_ACTIVE))
    secret = secret or _new_secret()
    key_id, ct = _seal(secret)
    cred = ApiCredential(reseller_id=reseller.id, api_key=api_key or "qk_" + secrets.token_hex(16),
                         label=label.strip()[:60],
                         data_key_id=key_id, secret_ct=ct, ip_allowlist=[])
    db.session.add(cred)
    db.session.flush()
    audit(actor_id, "api_key.create", "api_credential", cred.id, reseller_id=reseller.id)
    if commit:
        db.session.commit()
    return cred, secret


def rotate(cred: ApiCredential, actor_id: int | None) -> str:
    """A new secret for the same key; the old one stops working at once. Commits; returns the secret."""
    secret = _new_secret()
    cred.data_key_id, cred.secret_ct = _seal(secret)
    cred.rotated_at = utcnow()
    audit(actor_id, "api_key.rotate", "api_credential", cred.id)
    db.session.commit()
    return secret


def set_active(cred: ApiCredential, active: bool, actor_id: int | None) -> None:
    cred.active = active
    audit(actor_id, "api_key.enable" if active else "api_key.disable", "api_credential", cred.id)
    db.session.commit()


def parse_allowlist(text: str) -> list[str]:
    """One IPv4/IPv6 address or CIDR block per line (or comma-separated); every bad entry is reported."""
    entries = [e.strip() for e in text.replace(",", "\n").splitlines() if e.strip()]
    good, bad = [], []
    for entry in entries:
        try:
            good.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            bad.append(entry)
    if bad:
        raise ValidationError(_l("Not an IP address or CIDR block: %(entries)s", entries=", ".join(bad)))
    if len(good) > 50:
        raise ValidationError(_l("At most 50 entries."))
    return good


def set_allowlist(cred: ApiCredential, text: str, actor_id: int | None) -> None:
    cred.ip_allowlist = parse_allowlist(text)
    audit(actor_id, "api_key.allowlist", "api_credential", cred.id, entries=len(cred.ip_allowlist))
    db.session.commit()


def ip_allowed(cred: ApiCredential, ip: str | None) -> bool:
    if not cred.ip_allowlist:
        return True
    try:
        addr = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(net) for net in cred.ip_allowlist)


def secret_of(cred: ApiCredential) -> str:
    return vault.open_sealed(cred.data_key_id, cred.secret_ct)


def by_key(api_key: str) -> ApiCredential | None:
    return db.session.scalars(sa.select(ApiCredential).where(ApiCredential.api_key == api_key)).first()


def with_reseller(api_key: str) -> tuple[ApiCredential, Reseller] | None:
    """The key and its reseller in one query (the signed API's first step), or None for an unknown key. The
    reseller's organization comes along (risk control reads its freeze on every order)."""
    row = db.session.execute(sa.select(ApiCredential, Reseller)
                             .join(Reseller, Reseller.id == ApiCredential.reseller_id)
                             .join(Reseller.organization).options(orm.contains_eager(Reseller.organization))
                             .where(ApiCredential.api_key == api_key)).first()
    return (row[0], row[1]) if row else None


def list_for(reseller_id: int) -> list[ApiCredential]:
    return list(db.session.scalars(sa.select(ApiCredential).where(ApiCredential.reseller_id == reseller_id)
                                   .order_by(ApiCredential.id)))


def get_for(reseller_id: int, cred_id: int) -> ApiCredential:
    cred = db.session.scalars(sa.select(ApiCredential).where(ApiCredential.id == cred_id,
                                                             ApiCredential.reseller_id == reseller_id)).first()
    if cred is None:
        raise NotFound(_l("Key not found."))
    return cred


def signing_credential(reseller_id: int, preferred_id: int | None = None) -> ApiCredential | None:
    """The key whose secret signs a callback: the order's own key if still active, else the newest active."""
    if preferred_id:
        cred = db.session.get(ApiCredential, preferred_id)
        if cred is not None and cred.active and cred.reseller_id == reseller_id:
            return cred
    return db.session.scalars(sa.select(ApiCredential).where(ApiCredential.reseller_id == reseller_id,
                                                             ApiCredential.active.is_(True))
                              .order_by(ApiCredential.id.desc())).first()
