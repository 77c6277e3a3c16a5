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
    # member levels — params: level, value (growth value)
    "level_up": Kind(_l("You are now %(level)s"),
                     _l("Your growth value reached %(value)s. Enjoy what %(level)s unlocks.")),
    # params: level, shortfall (growth value still needed), date ("yyyy-MM-dd")
    "level_warning": Kind(_l("Keep your level %(level)s"),
                          _l("Earn %(shortfall)s more growth value by %(date)s to keep %(level)s.")),
    # params: level (the new one, or "no level"), value
    "level_down": Kind(_l("Your member level is now %(level)s"),
                       _l("Your growth value over the last 12 months is %(value)s.")),
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
    # params: points, expires_at ("yyyy-MM-dd HH:mm", local time) — the first end among the member's lots due
    "points_expiring": Kind(_l("%(points)s points expire soon"),
                            _l("%(points)s of your points expire from %(expires_at)s. Spend them in the points mall "
                               "before then.")),
    # params: order_no, amount (formatted, e.g. "¥28.00")
    "order_refunded": Kind(_l("Order %(order_no)s refunded"),
                           _l("%(amount)s was refunded for order %(order_no)s.")),
    # params: amount (formatted) — a promoter's withdrawal of referral commission, paid by finance
    "referral_withdrawal_paid": Kind(_l("Withdrawal paid: %(amount)s"),
                                     _l("Finance paid %(amount)s of your referral commission to your bank account.")),
    # params: amount (formatted), reason (finance's)
    "referral_withdrawal_rejected": Kind(_l("Withdrawal rejected: %(amount)s"),
                                         _l("Your withdrawal of %(amount)s was rejected: %(reason)s The amount is "
                                            "back in your wallet.")),
    # params: sku_name, order_no, amount (formatted) — a group buy that did not fill in time
    "group_failed": Kind(_l("Group buy did not fill: %(sku_name)s"),
                         _l("Your group for %(sku_name)s did not fill in time. %(amount)s was refunded for order "
                            "%(order_no)s.")),
    # params: company — to the owner of an existing account an HR admin added to the company's directory
    "employee_invitation": Kind(_l("%(company)s invites you to join as an employee"),
                                _l("%(company)s added your address to its employee directory. Your account "
                                   "joins only if you accept; open the invitation to accept or decline.")),
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
    # params: request_no, requester, amount, step (the step's label) — to the approver whose turn it is
    "approval_needed": Kind(_l("To approve: request %(request_no)s, %(amount)s"),
                            _l("%(requester)s asks for %(amount)s. It waits for you at the step %(step)s.")),
    # params: request_no, amount, step, hours (how long it has waited)
    "approval_reminder": Kind(_l("Still waiting for you: request %(request_no)s"),
                              _l("Request %(request_no)s (%(amount)s) has waited %(hours)s hours at the step "
                                 "%(step)s.")),
    # params: request_no, step, approver, comment — to the requester
    "request_returned": Kind(_l("Request %(request_no)s returned for changes"),
                             _l("%(approver)s (%(step)s) returned it: %(comment)s")),
    "request_rejected": Kind(_l("Request %(request_no)s rejected"),
                             _l("%(approver)s (%(step)s) rejected it: %(comment)s")),
    # params: request_no, amount — approved and paid from the balance
    "request_paid": Kind(_l("Request %(request_no)s approved and paid"),
                         _l("%(amount)s was paid from the company balance. The benefits are being issued.")),
    # params: request_no, amount, invoice_no — approved, the balance was short
    "request_invoiced": Kind(_l("Request %(request_no)s approved: invoice %(invoice_no)s to pay"),
                             _l("The company balance is short. Pay invoice %(invoice_no)s (%(amount)s) by bank "
                                "transfer; the benefits are issued once finance confirms it.")),
    # params: company, invoice_no, amount — to platform finance
    "invoice_issued": Kind(_l("Invoice %(invoice_no)s: %(company)s, %(amount)s"),
                           _l("%(company)s will pay invoice %(invoice_no)s (%(amount)s) by bank transfer. Confirm "
                              "it when the money is in the bank.")),
    # params: invoice_no, amount — to the enterprise's HR admins
    "invoice_paid": Kind(_l("Invoice %(invoice_no)s paid"),
                         _l("Finance confirmed your transfer of %(amount)s; it is in the company balance.")),
    # params: company, pack, deadline (yyyy-MM-dd) — to the employee, linking to the claim page
    "benefit_granted": Kind(_l("%(company)s sent you a benefit: %(pack)s"),
                            _l("Claim it in the benefit center before %(deadline)s.")),
    # params: pack, count — to the requester when unclaimed benefits were taken back
    "grants_reclaimed": Kind(_l("Unclaimed benefits taken back: %(pack)s"),
                             _l("%(count)s benefits were not claimed in time and were taken back.")),
    # params: statement_no, start, end (yyyy-MM-dd) — to a reseller's users or an enterprise's HR admins
    # params: batch_no, count, start, end — to finance when a settlement batch waits for approval
    "settlement_waiting": Kind(_l("Commission settlement %(batch_no)s to approve"),
                               _l("%(count)s agents' commissions for %(start)s to %(end)s wait for your "
                                  "approval.")),
    # params: amount, batch_no — to a parent agent's users when its commission is paid into its balance
    "commission_settled": Kind(_l("Commission paid: %(amount)s"),
                               _l("Finance settled your commission (%(batch_no)s): %(amount)s is in your balance "
                                  "now.")),
    # params: days (how long the link works) — email only: the activation link must not stay in an inbox
    "staff_invited": Kind(_l("You are invited to Quanyi's staff"),
                          _l("Choose your password through the link below. It works once, for %(days)s days.")),
    # params: minutes (how long the link works) — email only, to someone who asked for it
    "password_reset": Kind(_l("Reset your Quanyi password"),
                           _l("Someone (hopefully you) asked to reset the password of this account. Choose a new "
                              "one through the link below: it works once, for %(minutes)s minutes. If it was not "
                              "you, ignore this email; your password stays as it is.")),
    "statement_ready": Kind(_l("Statement %(statement_no)s is ready"),
                            _l("Your statement for %(start)s to %(end)s was approved by finance. Download it as PDF "
                               "or XLSX.")),
    # params: email, hours — to an address nobody has an account for (no inbox), with the confirmation link
    "signup_confirm": Kind(_l("Finish signing up to Quanyi"),
                           _l("Open the link below within %(hours)s hours to create your account for %(email)s. "
                              "If you did not sign up, ignore this email: nothing is created without it.")),
    # params: email — to the owner of an address someone tried to sign up with, linking to the login page
    # params: code, minutes — a risk challenge's one-time code, to the signed-in account's own address (email only)
    "risk_code": Kind(_l("Your Quanyi verification code: %(code)s"),
                      _l("Enter %(code)s on the security check page to go on. It works once, for %(minutes)s "
                         "minutes. If you did not ask for it, someone may be using your account: change your "
                         "password.")),
    "signup_taken": Kind(_l("Someone tried to sign up with your address"),
                         _l("Someone tried to create a Quanyi account with %(email)s, which already has one. If it "
                            "was you, sign in, or reset your password from the login page. If not, you can ignore "
                            "this email: nothing was changed.")),
    # params: minutes, ip — to the owner of an account locked after too many failed sign-ins
    "account_locked": Kind(_l("Your account was locked after failed sign-ins"),
                           _l("Too many failed sign-ins (the last from %(ip)s): signing in is paused for "
                              "%(minutes)s minutes. If this was not you, change your password.")),
    # params: sku_name, order_no, amount (formatted) — a paid order risk control held and ops rejected
    "review_refunded": Kind(_l("Order %(order_no)s was not accepted"),
                            _l("After a review we could not accept your order %(order_no)s (%(sku_name)s). "
                               "%(amount)s is refunded to the way you paid.")),
    # params: sku_name, order_no, amount — an unpaid held order ops rejected
    "review_cancelled": Kind(_l("Order %(order_no)s was cancelled"),
                             _l("After a review we could not accept your order %(order_no)s (%(sku_name)s). It is "
                                "cancelled and nothing was charged.")),
    # params: order_no, sku_name, amount, hours — to ops and admins: a held order nobody reviewed in time
    "review_escalated": Kind(_l("Review overdue: order %(order_no)s"),
                             _l("Order %(order_no)s (%(sku_name)s, %(amount)s) has waited for a review for "
                                "%(hours)s hours. Approve or reject it in the review queue.")),
    # params: sku_name, orders, minutes, usual — risk alert: a SKU's order rate far above its usual
    "risk_sku_surge": Kind(_l("Risk alert: orders of %(sku_name)s surging"),
                           _l("%(orders)s orders of %(sku_name)s in the last %(minutes)s minutes, against about "
                              "%(usual)s usually. Check for scalpers or a leaked price.")),
    # params: device, accounts — risk alert: one device id seen with many accounts in the last hour
    "risk_shared_device": Kind(_l("Risk alert: one device, %(accounts)s accounts"),
                               _l("Device %(device)s was used by %(accounts)s accounts in the last hour. Look it up "
                                  "in the decision log; black-list it if it is a ring.")),
    # params: ip, accounts — risk alert: one IP seen with many accounts in the last hour
    "risk_shared_ip": Kind(_l("Risk alert: one IP, %(accounts)s accounts"),
                           _l("IP %(ip)s was used by %(accounts)s accounts in the last hour. Look it up in the "
                              "decision log; black-list it if it is a ring.")),
    # params: supplier, rate, failed, attempts, usual — risk alert: a supplier's failure rate rising
    "risk_supplier_failing": Kind(_l("Risk alert: supplier %(supplier)s failing"),
                                  _l("%(failed)s of %(attempts)s attempts at %(supplier)s failed in the last hour "
                                     "(%(rate)s, usually %(usual)s). Consider switching its products to another "
                                     "supplier.")),
    # params: pending, escalated — risk alert: review holds piling up
    "risk_reviews_piling": Kind(_l("Risk alert: %(pending)s orders wait for review"),
                                _l("%(pending)s held orders wait in the review queue, %(escalated)s of them past "
                                   "their due time. Paid buyers are waiting for their goods.")),
    # params: title, body — a message ops wrote and sent to a marketing segment, shown as written
    "marketing_message": Kind("%(title)s", "%(body)s"),
    # subscriptions — params: plan, amount (formatted), and period | code (the gateway's) | hours | date
    "subscription_charged": Kind(_l("Renewed: %(plan)s"),
                                 _l("%(amount)s was charged for period %(period)s of %(plan)s; the benefit is "
                                    "on its way to your benefit center.")),
    "subscription_charge_failed": Kind(_l("Renewal charge failed: %(plan)s"),
                                       _l("We could not charge %(amount)s for %(plan)s (%(code)s). We will try "
                                          "again in %(hours)s hours.")),
    "subscription_suspended": Kind(_l("Subscription suspended: %(plan)s"),
                                   _l("We could not charge %(amount)s for %(plan)s after several tries "
                                      "(%(code)s). No more charges will be taken.")),
    "subscription_ended": Kind(_l("Subscription ended: %(plan)s"),
                               _l("The withholding agreement for %(plan)s is no longer valid, so the "
                                  "subscription has ended.")),
    "subscription_reminder": Kind(_l("Renewal coming: %(plan)s"),
                                  _l("%(amount)s will be charged for %(plan)s on %(date)s. Cancel in your benefit "
                                     "center before then if you do not want it.")),
    # after-sales cases (app/service) — params: case_no, sku_name (and amount | reason where said)
    "case_opened": Kind(_l("Case %(case_no)s opened"),
                        _l("We received your report about %(sku_name)s. Our service team will answer it soon.")),
    "case_replaced": Kind(_l("Case %(case_no)s: new code for %(sku_name)s"),
                          _l("We replaced %(sku_name)s. The new one is in your benefit center; the old code no "
                             "longer works.")),
    "case_refunded": Kind(_l("Case %(case_no)s: %(amount)s refunded"),
                          _l("%(amount)s was refunded for %(sku_name)s, the way you paid.")),
    "case_rejected": Kind(_l("Case %(case_no)s closed"),
                          _l("We looked into your report about %(sku_name)s and could not accept it: %(reason)s")),
    "case_escalated": Kind(_l("Case %(case_no)s escalated"),
                           _l("Your report about %(sku_name)s is taking longer than it should. A senior member of our "
                              "team now has it.")),
    # to service staff — params: case_no, sku_name, hours
    "case_overdue": Kind(_l("Case overdue: %(case_no)s"),
                         _l("Case %(case_no)s (%(sku_name)s) has been open for more than %(hours)s hours. Resolve it "
                            "in the service console.")),
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
