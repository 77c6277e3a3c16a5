"""Deny-by-default: every route of the app, visited as every role and as a guest.

The route list comes from the app itself, so a new route is checked the day it is added; a route outside
the portals must be listed in PUBLIC or OPEN_TO_ALL on purpose.
"""

import re

import pytest

from app.accounts.models import Role
from app.web.access import PORTAL_ROLES

#: Reachable without logging in.
PUBLIC = {"static", "auth.index", "auth.login", "auth.signup", "auth.logout", "auth.set_language", "auth.invite",
          "auth.activate", "auth.forgot_password", "auth.forgot_password_sent", "auth.password_reset",
          "auth.signup_confirm", "auth.verify", "auth.verify_image", "auth.verify_new",
          "consumer.shop", "consumer.sku_detail", "consumer.group", "consumer.share_link", "payments.notify",
          "payments.agreement_notify",
          "consumer.flash_sales", "consumer.flash_sale", "consumer.flash_status",
          "supplier_callbacks.callback", "api.openapi_json",
          "metrics.scrape",  # no session: its bearer token (METRICS_TOKEN), tests/web/test_metrics.py
          "health.healthz", "health.readyz"}  # probes: no session, nothing secret (tests/web/test_health.py)
#: The signed reseller API: no session or role gets in, an unsigned request is 401 (tests/api sign theirs).
SIGNED_API = "api."
#: Enterprise endpoints only HR admins may use: an approver of the same company is refused (403) there.
HR_ONLY = {f"enterprise.{name}" for name in (
    "request_new", "request_edit", "request_submit", "request_cancel", "request_pay", "request_employees",
    "pack_new", "pack_edit", "pack_active", "budget_new", "budget_edit", "rule_new", "rule_edit", "rule_delete",
    "department_new", "department_edit", "employee_new", "employee_edit", "employee_active", "employees_template",
    "employee_activation", "employees_import", "pool_assign", "invoice_request", "statements_page", "statement_file")}
#: Any logged-in user.
OPEN_TO_ALL = {"payments.payer_return", "auth.password_change", "auth.mfa_verify", "auth.mfa_enrol",
               "auth.security", "auth.verify_email"}
ROLES = [r.value for r in Role]


def endpoint_roles(endpoint: str) -> set[str] | None:
    """None means public; otherwise the roles allowed in."""
    if endpoint in PUBLIC:
        return None
    if endpoint in OPEN_TO_ALL:
        return set(ROLES)
    if endpoint.startswith(SIGNED_API):
        return set()
    portal = endpoint.split(".", 1)[0]
    if portal == "payments":
        return PORTAL_ROLES["consumer"]
    assert portal in PORTAL_ROLES, f"{endpoint} is outside every portal: add it to PUBLIC/OPEN_TO_ALL on purpose"
    return PORTAL_ROLES[portal]


def routes(app):
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, rule.rule, method))
    return out


def fill(rule: str) -> str:
    """Any value will do: the gate must answer before the object is even looked up."""
    def value(m):
        converter, args = m.group(1), m.group(2)
        if converter == "any":  # any(a, b): one of its words
            return args.split(",")[0].strip(" '\"")
        return "1" if converter == "int" else "X1"

    return re.sub(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>", value, rule)


def test_every_route_is_classified(app):
    for endpoint, _, _ in routes(app):
        endpoint_roles(endpoint)


@pytest.mark.parametrize("role", ["guest"] + ROLES)
def test_access_matrix(app, client, login_as, role):
    if role != "guest":
        login_as(role)
    failures = []
    for endpoint, rule, method in routes(app):
        if endpoint in ("auth.logout", "auth.set_language"):
            continue  # would end or change the session under test; covered in test_auth
        allowed = endpoint_roles(endpoint)
        resp = client.open(fill(rule), method=method, data={})
        location = resp.headers.get("Location", "")
        if allowed == set() and endpoint.startswith(SIGNED_API):
            ok = resp.status_code == 401
            expect = "401 (signed API)"
        elif allowed is None:
            ok = resp.status_code != 403 and "/login?" not in location
            expect = "public"
        elif role == "guest":
            ok = resp.status_code == 302 and "/login" in location
            expect = "redirect to login"
        elif role == "approver" and endpoint in HR_ONLY:
            ok = resp.status_code in (403, 404)
            expect = "403 (HR admins only)"
        elif role in allowed:
            ok = resp.status_code != 403 and "/login" not in location
            expect = "allowed"
        else:
            ok = resp.status_code == 403
            expect = "403"
        if not ok:
            failures.append(f"{method} {rule} as {role}: {resp.status_code} {location} (expected {expect})")
    assert not failures, "\n".join(failures)


#: Marketing's ops pages (campaigns, segments, bulk runs): the matrix above visits them as every role; this
#: says they are there to visit, and ops-only.
MARKETING = {"ops.marketing_home", "ops.campaign_new", "ops.campaign", "ops.campaign_edit", "ops.campaign_publish",
             "ops.campaign_end", "ops.campaign_report_xlsx", "ops.segments_list", "ops.segment_new",
             "ops.segment_edit", "ops.segment_size", "ops.segment", "ops.segment_run_start", "ops.segment_run"}


def test_marketing_pages_are_ops_only(app):
    assert MARKETING <= {endpoint for endpoint, _, _ in routes(app)}
    assert all(endpoint_roles(e) == {Role.ops} for e in MARKETING)


#: Risk control's ops pages (rules, thresholds, lists, decisions, freezes): ops-only, like the rest of ops.
RISK = {"ops.risk_rules", "ops.risk_rule_new", "ops.risk_rule_edit", "ops.risk_rule", "ops.risk_rule_mode",
        "ops.risk_thresholds", "ops.risk_threshold_save", "ops.risk_lists", "ops.risk_list_add",
        "ops.risk_list_remove", "ops.risk_list_import", "ops.risk_list_template", "ops.risk_decisions",
        "ops.risk_decision", "ops.risk_freezes", "ops.risk_account", "ops.risk_organization", "ops.risk_freeze"}


def test_risk_pages_are_ops_only(app):
    assert RISK <= {endpoint for endpoint, _, _ in routes(app)}
    assert all(endpoint_roles(e) == {Role.ops} for e in RISK)
