"""The ledger. Trial balance of a period, the journal filtered by period, account, counterparty
and kind (each entry drills down to what it was posted for), the chart of accounts, one account's postings with
the running balance; CSV and XLSX downloads of the journal and the trial balance."""

from flask import Response, request

from app.core.errors import ValidationError
from app.insight import journal as insight
from app.ledger import periods, reports
from app.web import downloads
from app.web.finance import bp
from app.web.paging import cursor_args
from app.web.render import render


def _filters() -> tuple[reports.Filters, ValidationError | None]:
    try:
        return reports.parse_filters(request.args), None
    except ValidationError as e:
        return reports.Filters(), e


def _choices() -> dict:
    return {"counterparties": reports.counterparties(), "kinds": reports.kinds(), "chart": list(reports.CHART)}


@bp.get("/")
def home():
    f, error = _filters()
    tb = reports.trial_balance(f)
    return render("finance/home.html", "report", status_code=422 if error else 200, tb=tb, f=f, error=error,
                  args=request.args, last_closed=periods.closed_through(), **_choices())


@bp.get("/trial-balance.csv", defaults={"fmt": "csv"})
@bp.get("/trial-balance.xlsx", defaults={"fmt": "xlsx"})
def trial_balance_export(fmt: str):
    f, error = _filters()
    if error:
        return Response(str(error.message), status=422, mimetype="text/plain")
    return downloads.table(reports.trial_balance_sheet(reports.trial_balance(f)), fmt, "trial-balance")


@bp.get("/journal")
def journal():
    f, error = _filters()
    page = reports.journal(f, **cursor_args())
    return render("finance/journal.html", "entries", status_code=422 if error else 200, page=page, f=f,
                  error=error, args=request.args, names=reports.names_for_entries(page.items), **_choices())


@bp.get("/journal.csv", defaults={"fmt": "csv"})
@bp.get("/journal.xlsx", defaults={"fmt": "xlsx"})
def journal_export(fmt: str):
    f, error = _filters()
    if error:
        return Response(str(error.message), status=422, mimetype="text/plain")
    return downloads.table(reports.journal_sheet(f), fmt, "journal")


@bp.get("/journal/<int:entry_id>")
def entry(entry_id: int):
    e = reports.entry(entry_id)
    related = reports.related(e)
    return render("finance/entry.html", entry=e, behind=insight.behind(e), related=related,
                  names=reports.names_for_entries([e, *related]), actor=reports.actor(e))


@bp.get("/accounts")
def accounts():
    return render("finance/accounts.html", accounts=reports.accounts())


@bp.get("/accounts/<code>")
def account(code: str):
    f, error = _filters()
    ledger_ = reports.account_ledger(code, f, **cursor_args())
    subs = reports.sub_accounts(code) if "." not in code else []
    return render("finance/account.html", "postings", status_code=422 if error else 200, ledger=ledger_, f=f,
                  error=error, args=request.args, subs=subs,
                  export_args={**f.args(), "account": code})


@bp.context_processor
def _helpers():
    return {"account_name": reports.account_label}
