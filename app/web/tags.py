"""How a status looks as a tag: its colour, by the label table its statuses come from (the `kind` of
`label(status, kind)`), and the class tests and scripts find it by. One table, for the one `status_tag` macro."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TagStyle:
    colors: dict[str, str] = field(default_factory=dict)
    default: str = "light"
    #: Bulma's light variant (pale background) for every status of the kind.
    light: bool = False
    #: The class that names what the tag is the status of.
    css: str = ""


_PAYMENT = {"approved": "success", "rejected": "danger"}

STYLES = {
    "import": TagStyle({"done": "success", "rejected": "danger", "failed": "danger", "running": "info",
                        "pending": "warning"}, css="batch-status"),
    "delivery": TagStyle({"delivered": "success", "failed": "danger", "refunded": "warning", "queued": "info",
                          "accepted": "info"}, css="delivery-status"),
    "statement": TagStyle({"approved": "success", "superseded": "light", "failed": "danger", "ready": "warning",
                           "generating": "info", "queued": "info"}, css="statement-status"),
    "request": TagStyle({"draft": "light", "pending": "warning", "returned": "warning", "rejected": "danger",
                         "awaiting_payment": "info", "paid": "info", "issued": "success", "cancelled": "dark"},
                        light=True, css="request-status"),
    "step": TagStyle({"waiting": "warning", "approved": "success", "rejected": "danger", "returned": "warning",
                      "skipped": "light", "queued": "light"}, light=True, css="step-status"),
    "wholesale": TagStyle({"delivered": "success", "partially_delivered": "warning", "failed": "danger",
                           "refunded": "dark", "processing": "info"}, light=True, css="order-status"),
    "grant": TagStyle({"claimed": "success", "issued": "warning", "reclaimed": "dark", "credited": "dark"},
                      light=True, css="grant-status"),
    "invoice": TagStyle({"paid": "success", "cancelled": "light"}, default="warning", css="invoice-status"),
    "topup": TagStyle(_PAYMENT, default="warning", light=True, css="topup-status"),
    "settlement": TagStyle({"posted": "success", "rejected": "danger"}, default="warning", light=True,
                           css="settlement-status"),
    "proposal": TagStyle({"approved": "success", "rejected": "danger", "withdrawn": "light"}, default="warning",
                         light=True, css="proposal-status"),
    "group": TagStyle({"open": "info", "filled": "success", "failed": "dark"}, light=True, css="group-status"),
    "recon_run": TagStyle({"matched": "success", "failed": "danger"}, default="warning", light=True),
    "campaign": TagStyle({"draft": "light", "scheduled": "info", "live": "success", "ended": "dark"}, light=True,
                         css="campaign-status"),
    "review": TagStyle({"pending": "warning", "approved": "success", "rejected": "danger"}, css="review-status"),
    "segment_run": TagStyle({"done": "success", "failed": "danger", "running": "info", "queued": "warning"},
                            css="run-status"),
    "risk_action": TagStyle({"allow": "success", "challenge": "warning", "review": "info", "block": "danger"},
                            light=True, css="risk-action"),
    "subscription_status": TagStyle({"active": "success", "charging": "info", "retrying": "warning",
                                     "suspended": "danger", "signing": "light", "cancelled": "light"},
                                    css="subscription-status"),
}


def status_classes(kind: str, status: str) -> str:
    """The classes after "tag" for `status` of `kind`: "is-warning is-light request-status"."""
    style = STYLES.get(kind, TagStyle())
    classes = [f"is-{style.colors.get(status, style.default)}"]
    if style.light:
        classes.append("is-light")
    if style.css:
        classes.append(style.css)
    return " ".join(classes)
