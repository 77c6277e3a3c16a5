"""What the rules can look at. Each feature has a name (what a rule's condition names), a label ops read in the
console and a kind (number, yes/no, text); the engine works out only those its rules name."""

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.risk import velocity


@dataclass(frozen=True)
class Feature:
    name: str
    label: object
    #: "number", "bool" or "text".
    kind: str = "number"


_EVENT_LABELS = {"attempts": _l("Requests"), "orders": _l("Orders"), "amount": _l("Amount ordered (¥)"),
                 "failed_payments": _l("Failed payments")}
_DIM_LABELS = {"user": _l("per account"), "ip": _l("per IP"), "device": _l("per device"),
               "topup": _l("per top-up account"), "sku": _l("per SKU")}
_WINDOW_LABELS = {"10m": _l("last 10 minutes"), "1h": _l("last hour"), "24h": _l("last 24 hours")}


def _velocity() -> list[Feature]:
    return [Feature(f"{event}_{dim}_{window}",
                    _l("%(what)s %(per)s, %(window)s", what=_EVENT_LABELS[event], per=_DIM_LABELS[dim],
                       window=_WINDOW_LABELS[window]))
            for event in velocity.EVENTS for dim in velocity.DIMS for window in velocity.WINDOWS]


FEATURES: dict[str, Feature] = {f.name: f for f in [
    Feature("account_age_minutes", _l("Account age (minutes)")),
    Feature("device_accounts", _l("Accounts seen on this device (24 h)")),
    Feature("ip_accounts", _l("Accounts seen from this IP (24 h)")),
    Feature("amount", _l("Order amount (¥)")),
    Feature("quantity", _l("Quantity")),
    Feature("amount_ratio", _l("Amount ÷ the account's usual order amount")),
    Feature("email_disposable", _l("Disposable email domain"), "bool"),
    Feature("email_domain", _l("Email domain"), "text"),
    Feature("black_listed", _l("On the black list"), "bool"),
    Feature("white_listed", _l("On the white list"), "bool"),
    Feature("no_device_cookie", _l("Device without our cookie"), "bool"),
    Feature("challenge_passed", _l("Passed a challenge recently on this device"), "bool"),
    Feature("sku_id", _l("SKU id")),
    Feature("campaign_id", _l("Campaign id")),
    *_velocity(),
]}

OPS = {
    "number": (">", ">=", "<", "<=", "=", "!="),
    "bool": ("=",),
    "text": ("=", "!=", "in", "not in"),
}


def parse_value(feature: Feature, op: str, raw) -> object:
    """A condition's value as the feature's kind, or ValueError (the console says which field is wrong)."""
    if op not in OPS[feature.kind]:
        raise ValueError(op)
    if feature.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "y", "是"):
            return True
        if text in ("false", "0", "no", "n", "否"):
            return False
        raise ValueError(raw)
    if feature.kind == "number":
        value = float(str(raw).strip())
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(raw)
        return int(value) if value.is_integer() else value
    text = str(raw).strip().lower()
    if not text or len(text) > 500:
        raise ValueError(raw)
    if op in ("in", "not in"):
        return sorted({part.strip() for part in text.split(",") if part.strip()})
    return text


def holds(cond: dict, seen: dict) -> bool:
    """Whether one condition holds for the features seen; an unknown feature value never matches."""
    value = seen.get(cond["feature"])
    if value is None:
        return False
    op, want = cond["op"], cond["value"]
    if op == "in":
        return str(value).lower() in want
    if op == "not in":
        return str(value).lower() not in want
    if isinstance(want, str):
        value = str(value).lower()
    try:
        return {">": value > want, ">=": value >= want, "<": value < want, "<=": value <= want,
                "=": value == want, "!=": value != want}[op]
    except TypeError:
        return False


def describe(cond: dict) -> str:
    feature = FEATURES.get(cond["feature"])
    label = str(feature.label) if feature else cond["feature"]
    value = cond["value"]
    if isinstance(value, bool):
        value = _("Yes") if value else _("No")
    elif isinstance(value, list):
        value = ", ".join(value)
    return f"{label} {cond['op']} {value}"


def groups() -> list[tuple[object, list[Feature]]]:
    """The catalog as the console's feature select shows it: the account, device, lists and order first, then
    the velocity counters, one group per event."""
    counters = {event: [FEATURES[f"{event}_{dim}_{window}"] for dim in velocity.DIMS for window in velocity.WINDOWS]
                for event in velocity.EVENTS}
    counted = {f.name for group in counters.values() for f in group}
    return [(_l("Account, device, lists and order"), [f for f in FEATURES.values() if f.name not in counted]),
            *((_l("Velocity: %(what)s", what=_EVENT_LABELS[event]), group) for event, group in counters.items())]
