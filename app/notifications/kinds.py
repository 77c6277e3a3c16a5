"""What each kind of notification says. Title and body are rendered when shown, in the reader's language.

Adding a kind is one line here: English msgids with %(name)s placeholders filled from the stored params.
"""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Kind:
    #: Lazy msgids: translated each time they are turned into text.
    title: object
    body: object


KINDS: dict[str, Kind] = {
    # params: sku_name, valid_until ("yyyy-MM-dd HH:mm", local time), days (the reminder threshold)
    "benefit_expiring": Kind(_l("Expiring soon: %(sku_name)s"),
                             _l("Valid until %(valid_until)s. Use it or renew it before then.")),
    # params: sku_name, account
    "topup_delivered": Kind(_l("Topped up: %(sku_name)s"), _l("%(sku_name)s was topped up to %(account)s.")),
    # params: sku_name
    "delivery_failed": Kind(_l("Delivery failed: %(sku_name)s"),
                            _l("We could not deliver %(sku_name)s. Our team is on it; you will hear from us.")),
    # params: balance, threshold (formatted, e.g. "¥80.00")
    "low_balance": Kind(_l("Your balance is low: %(balance)s"),
                        _l("Your prepaid balance is %(balance)s, below your alert threshold of %(threshold)s. "
                           "Top it up to keep orders flowing.")),
    # params: order_no, amount (formatted, e.g. "¥28.00")
    "order_refunded": Kind(_l("Order %(order_no)s refunded"),
                           _l("%(amount)s was refunded for order %(order_no)s.")),
    # params: company (the sub-agent that accepted the invitation)
    "agent_joined": Kind(_l("New sub-agent: %(company)s"),
                         _l("%(company)s accepted your invitation. Set its prices on its page.")),
    # params: reseller, amount (formatted), transfer_ref — to finance
    "topup_submitted": Kind(_l("Top-up to review: %(reseller)s, %(amount)s"),
                            _l("%(reseller)s reports a bank transfer of %(amount)s (reference %(transfer_ref)s). "
                               "Check the receipt against the bank, then approve or reject it.")),
    # params: amount, transfer_ref, balance (formatted)
    "topup_approved": Kind(_l("Top-up approved: %(amount)s"),
                           _l("%(amount)s (transfer %(transfer_ref)s) was added to your balance. "
                              "Your balance is now %(balance)s.")),
    # params: amount, transfer_ref, note (finance's reason)
    "topup_rejected": Kind(_l("Top-up rejected: %(amount)s"),
                           _l("Your top-up of %(amount)s (transfer %(transfer_ref)s) was rejected: %(note)s")),
}


def render(kind: str, params: dict) -> tuple[str, str]:
    """(title, body) in the current locale. A kind removed since, or params that no longer fit, still show."""
    spec = KINDS.get(kind)
    if spec is None:
        return kind, ""
    try:
        return str(spec.title) % params, str(spec.body) % params
    except (KeyError, TypeError, ValueError):
        return str(spec.title), ""
