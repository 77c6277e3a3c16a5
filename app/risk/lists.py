"""Black and white lists: accounts, phones, emails and domains, IPs and CIDR ranges, devices and top-up
accounts, each entry with a reason and an optional expiry. Ops add them one by one or import a CSV."""

import csv
import io
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db
from app.risk import rules
from app.risk.models import ListEntry, ListKind, ListType

PHONE = re.compile(r"1[3-9][0-9]{9}")
DOMAIN = re.compile(r"(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 20000


def normalise(type_: str, raw: str) -> str:
    """The stored form of a list value, or ValueError."""
    value = (raw or "").strip()
    if type_ == ListType.account:
        if not value.isdigit():
            raise ValueError(value)
        return str(int(value))
    if type_ == ListType.phone:
        value = re.sub(r"[\s-]", "", value).removeprefix("+86")
        if not PHONE.fullmatch(value):
            raise ValueError(value)
        return value
    if type_ == ListType.email:
        value = value.lower()
        if value.count("@") != 1 or not DOMAIN.fullmatch(value.split("@")[1]) or len(value) > 254:
            raise ValueError(value)
        return value
    if type_ == ListType.domain:
        value = value.lower().lstrip("@")
        if not DOMAIN.fullmatch(value):
            raise ValueError(value)
        return value
    if type_ == ListType.ip:
        return str(ipaddress.ip_address(value))
    if type_ == ListType.cidr:
        return str(ipaddress.ip_network(value, strict=False))
    if type_ in (ListType.device, ListType.topup):
        if not value or len(value) > 128 or any(ch.isspace() for ch in value):
            raise ValueError(value)
        return value
    raise ValueError(type_)


@dataclass(frozen=True)
class Listed:
    black: bool
    white: bool
    #: "black:ip 1.2.3.4 (reason)" for the decision log.
    hits: tuple[str, ...]


def lookup(user: User | None, ip: str | None, device: str | None, email: str | None = None,
           topup: str | None = None, now: datetime | None = None) -> Listed:
    """Whether anything about this request is on a list, in one query."""
    now = now or utcnow()
    candidates = _candidates(user, ip, device, email, topup)
    if not candidates:
        return Listed(False, False, ())
    match = sa.tuple_(ListEntry.type, ListEntry.value).in_(candidates)
    if ip:
        match = sa.or_(match, ListEntry.type == ListType.cidr)
    rows = db.session.execute(sa.select(ListEntry.kind, ListEntry.type, ListEntry.value, ListEntry.reason)
                              .where(match, sa.or_(ListEntry.expires_at.is_(None), ListEntry.expires_at > now))).all()
    return _listed(rows, ip)


#: Up to this many entries the lists are held in memory, per rules version, for `lookup_at`.
HELD_ENTRIES = 5000


@dataclass
class _Held:
    version: int
    #: (type, value) -> [(kind, type, value, reason, expires_at)]; None: too many entries to hold
    index: dict | None
    cidrs: list


_held: dict[str, _Held] = {}


def lookup_at(version: int, user: User | None, ip: str | None, device: str | None, email: str | None = None,
              topup: str | None = None, now: datetime | None = None) -> Listed:
    """`lookup`, answered from memory: the entries are read once per rules version (every change to the lists
    bumps it, see `rules.changed`), while there are at most HELD_ENTRIES of them; else `lookup`'s query."""
    key = current_app.config["RISK_PREFIX"]
    held = _held.get(key)
    if held is None or held.version != version:
        rows = db.session.execute(sa.select(ListEntry.kind, ListEntry.type, ListEntry.value, ListEntry.reason,
                                            ListEntry.expires_at).limit(HELD_ENTRIES + 1)).all()
        index: dict | None = {}
        for row in rows:
            index.setdefault((row.type, row.value), []).append(tuple(row))
        cidrs = [tuple(r) for r in rows if r.type == ListType.cidr]
        if len(rows) > HELD_ENTRIES:
            index, cidrs = None, []
        held = _held[key] = _Held(version, index, cidrs)
    if held.index is None:
        return lookup(user, ip, device, email=email, topup=topup, now=now)
    if not held.index:
        return Listed(False, False, ())
    now = now or utcnow()
    candidates = _candidates(user, ip, device, email, topup)
    if not candidates:
        return Listed(False, False, ())
    rows = [r for c in candidates for r in held.index.get(c, ())]
    if ip:
        rows += held.cidrs
    return _listed([r[:4] for r in rows if r[4] is None or r[4] > now], ip)


def _candidates(user: User | None, ip: str | None, device: str | None, email: str | None,
                topup: str | None) -> list[tuple[str, str]]:
    candidates = []
    if user is not None:
        candidates.append((ListType.account, str(user.id)))
        if user.phone:
            candidates.append((ListType.phone, user.phone))
        email = email or user.email
    if email:
        email = email.strip().lower()
        candidates.append((ListType.email, email))
        candidates.append((ListType.domain, email.rsplit("@", 1)[-1]))
    if ip:
        candidates.append((ListType.ip, ip))
    if device:
        candidates.append((ListType.device, device))
    if topup:
        candidates.append((ListType.topup, topup))
    return candidates


def _listed(rows, ip: str | None) -> Listed:
    """The hits among the (kind, type, value, reason) rows found for a request from `ip`."""
    hits = []
    addr = _address(ip)
    for kind, type_, value, reason in rows:
        if type_ == ListType.cidr:
            try:
                if addr is None or addr not in ipaddress.ip_network(value):
                    continue
            except ValueError:
                continue
        hits.append((kind, f"{kind}:{type_} {value}" + (f" ({reason})" if reason else "")))
    return Listed(any(k == ListKind.black for k, _ in hits), any(k == ListKind.white for k, _ in hits),
                  tuple(h for _, h in hits))


def _address(ip: str | None):
    try:
        return ipaddress.ip_address(ip) if ip else None
    except ValueError:
        return None


# --- the console -----------------------------------------------------------------------------------------------


def entries(kind: str | None = None, type_: str | None = None, q: str = "", limit: int = 200) -> list[ListEntry]:
    query = sa.select(ListEntry).order_by(ListEntry.id.desc()).limit(limit)
    if kind:
        query = query.where(ListEntry.kind == kind)
    if type_:
        query = query.where(ListEntry.type == type_)
    if q:
        query = query.where(ListEntry.value.contains(q.strip().lower(), autoescape=True))
    return list(db.session.scalars(query))


def _clean(kind: str, type_: str, value: str, reason: str, expires_at: datetime | None) -> dict:
    if kind not in set(ListKind):
        raise ValidationError(_l("Choose the black or the white list."), field="kind")
    if type_ not in set(ListType):
        raise ValidationError(_l("Choose what kind of value this is."), field="type")
    try:
        norm = normalise(type_, value)
    except ValueError:
        raise ValidationError(_l("“%(value)s” is not a valid %(type)s.", value=(value or "")[:60],
                                 type=TYPE_LABELS[type_]), field="value") from None
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationError(_l("The expiry must be in the future."), field="expires_at")
    return {"kind": kind, "type": type_, "value": norm, "reason": (reason or "").strip()[:200],
            "expires_at": expires_at}


def add(actor: User, kind: str, type_: str, value: str, reason: str = "",
        expires_at: datetime | None = None) -> ListEntry:
    """Add (or renew: a new reason and expiry) one entry."""
    data = _clean(kind, type_, value, reason, expires_at)
    entry = _upsert(actor, data)
    audit(actor.id, "risk.list_added", "risk_list_entry", entry.id, kind=kind, type=type_, value=entry.value,
          reason=entry.reason)
    db.session.commit()
    rules.changed()
    return entry


def _upsert(actor: User, data: dict) -> ListEntry:
    entry = db.session.scalars(sa.select(ListEntry).where(ListEntry.kind == data["kind"],
                                                          ListEntry.type == data["type"],
                                                          ListEntry.value == data["value"])).first()
    if entry is None:
        entry = ListEntry(**data, created_by_id=actor.id)
        db.session.add(entry)
    else:
        entry.reason, entry.expires_at = data["reason"], data["expires_at"]
    db.session.flush()
    return entry


def remove(actor: User, entry_id: int) -> None:
    entry = db.session.get(ListEntry, entry_id)
    if entry is None:
        raise NotFound(_l("List entry not found."))
    audit(actor.id, "risk.list_removed", "risk_list_entry", entry.id, kind=entry.kind, type=entry.type,
          value=entry.value)
    db.session.delete(entry)
    db.session.commit()
    rules.changed()


@dataclass
class ImportResult:
    added: int
    rejected: list[tuple[int, str]]


def import_csv(actor: User, data: bytes) -> ImportResult:
    """Rows of kind,type,value,reason,expires (YYYY-MM-DD, optional), a header row allowed. Every bad line is
    reported with its reason; nothing is written unless every line is good."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError(_l("The file is larger than %(mb)s MB.", mb=MAX_IMPORT_BYTES // 1024 // 1024))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(_l("The file is not UTF-8 text.")) from None
    rows = list(csv.reader(io.StringIO(text)))
    if rows and [c.strip().lower() for c in rows[0][:3]] == ["kind", "type", "value"]:
        rows = rows[1:]
        first = 2
    else:
        first = 1
    if not rows:
        raise ValidationError(_l("The file has no entries."))
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationError(_l("At most %(n)s entries per file.", n=MAX_IMPORT_ROWS))
    good, rejected = [], []
    for n, row in enumerate(rows, first):
        if not any(c.strip() for c in row):
            continue
        row = [c.strip() for c in row] + [""] * 5
        expires = None
        try:
            if row[4]:
                expires = datetime.strptime(row[4], "%Y-%m-%d")
            good.append(_clean(row[0].lower(), row[1].lower(), row[2], row[3], expires))
        except ValueError:
            rejected.append((n, str(_l("the expiry must be a date like 2027-01-31"))))
        except ValidationError as e:
            rejected.append((n, str(e.message)))
    if rejected:
        return ImportResult(0, rejected)
    for data_ in good:
        _upsert(actor, data_)
    audit(actor.id, "risk.list_imported", "risk_list_entry", None, count=len(good))
    db.session.commit()
    rules.changed()
    return ImportResult(len(good), [])


TYPE_LABELS = {
    ListType.account: _l("account id"),
    ListType.phone: _l("mobile number"),
    ListType.email: _l("email address"),
    ListType.domain: _l("email domain"),
    ListType.ip: _l("IP address"),
    ListType.cidr: _l("IP range (CIDR)"),
    ListType.device: _l("device id"),
    ListType.topup: _l("top-up account"),
}
