"""The console's pages: the search box and its results, the customer view, the organisation view and the staff's
order page. Thin: each reads its arguments, calls app.service, renders."""

from flask import current_app, request
from flask_login import current_user

from app.core.errors import ValidationError
from app.extensions import limiter
from app.service import customer as views
from app.service import search as finder
from app.web.paging import cursor_args
from app.web.render import render
from app.web.service import bp


@bp.get("/")
@limiter.limit(lambda: current_app.config["SERVICE_SEARCH_RATE_LIMIT"],
               key_func=lambda: f"service-search:{current_user.get_id()}",
               exempt_when=lambda: not request.args.get("q"))
def home():
    q = (request.args.get("q") or "").strip()
    results, error = None, None
    if q:
        try:
            results = finder.search(current_user, q)
        except ValidationError as e:
            error = str(e.message)
    return render("service/home.html", "results", status_code=422 if error else 200, q=q, results=results,
                  error=error, kinds=finder.KINDS)


@bp.get("/customers/<int:user_id>")
def customer(user_id: int):
    person = views.customer(current_user, user_id)
    return render("service/customer.html", "customer_orders", person=person,
                  page=views.orders_of(person.id, **cursor_args()), units=views.benefits_of(person.id),
                  cases=_cases_of(person.id), messages=views.messages_of(person.id),
                  trail=views.trail_of(person.id), risk=views.risk_of(person))


@bp.get("/organizations/<int:org_id>")
def organization(org_id: int):
    org, party = views.organization(current_user, org_id)
    return render("service/organization.html", "org_orders", org=org, party=party,
                  page=views.orders_of_org(org, party, **cursor_args()), members=views.members_of(org.id),
                  decisions=views.org_decisions(org.id))


@bp.get("/orders/<order_no>")
def order(order_no: str):
    return render("service/order.html", view=views.order_view(current_user, order_no))


def _cases_of(user_id: int) -> list:
    """After-sales cases come with the cases part (merged separately); until then there are none to list."""
    return []
