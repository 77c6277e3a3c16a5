"""Ops pages for the reseller channel: tiers and their per-SKU prices, resellers (the API secret shown once,
at creation), ring-fenced pools, and the code lookup that traces a leaked code to its order."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.catalog import services as catalog
from app.channels import balance, credentials, pools, pricing, resellers, trace, wholesale
from app.core.errors import DomainError
from app.ledger import proposals
from app.web.access import fresh_mfa_required
from app.web.forms import show_error, submit
from app.web.ops import bp
from app.web.ops.channel_forms import (
    ACTION_LABELS,
    CHANNEL_LABELS,
    STATUS_LABELS,
    AllocateForm,
    AllowSharedForm,
    CodeLookupForm,
    ReclaimForm,
    ResellerEditForm,
    ResellerForm,
    TierForm,
    TierPriceForm,
)
from app.web.paging import cursor_args, page_number
from app.web.render import render

#: Orders shown on a reseller's page (its full list is in its own console).
RECENT_ORDERS = 10


@bp.context_processor
def _channel_labels():
    return {"reseller_status_labels": STATUS_LABELS, "channel_labels": CHANNEL_LABELS,
            "action_labels": ACTION_LABELS, "percent": resellers.percent}


def _tier_choices() -> list[SelectChoice]:
    return [SelectChoice(t.id, t.name) for t in resellers.tiers()]


# --- tiers ------------------------------------------------------------------------------------------------

@bp.route("/tiers", methods=["GET", "POST"])
def tiers():
    form = TierForm()
    return submit(form, lambda: resellers.save_tier(form.name.data, form.discount.data, current_user.id,
                                                    max_agent_markup_bp=form.max_agent_markup.data),
                  lambda t: _("Tier %(name)s saved.", name=t.name), "ops.tiers") \
        or render("ops/tiers.html", page=resellers.tiers_page(page_number()), form=form)


@bp.route("/tiers/<int:tier_id>/edit", methods=["GET", "POST"])
def tier_edit(tier_id: int):
    tier = resellers.get_tier(tier_id)
    form = TierForm(name=tier.name, discount=tier.discount_bp, max_agent_markup=tier.max_agent_markup_bp)
    return submit(form, lambda: resellers.save_tier(form.name.data, form.discount.data, current_user.id,
                                                    max_agent_markup_bp=form.max_agent_markup.data, tier=tier),
                  lambda t: _("Tier %(name)s saved.", name=t.name), "ops.tiers") \
        or render("ops/tier_form.html", tier=tier, form=form)


def _prices_page(tier, errors: dict | None = None, status_code: int = 200):
    skus = catalog.list_skus()
    overrides = pricing.tier_overrides(tier.id)
    rows = [{"sku": s, "default": s.price_fen - pricing.percent_of(s.price_fen, tier.discount_bp),
             "override": overrides.get(s.id)} for s in skus]
    return render("ops/tier_prices.html", tier=tier, rows=rows, errors=errors or {}, status_code=status_code)


@bp.get("/tiers/<int:tier_id>/prices")
def tier_prices(tier_id: int):
    return _prices_page(resellers.get_tier(tier_id))


@bp.post("/tiers/<int:tier_id>/prices/<int:sku_id>")
def tier_price_save(tier_id: int, sku_id: int):
    """Set the tier's own price for a SKU; an empty price or the clear button goes back to the discount."""
    tier, sku = resellers.get_tier(tier_id), catalog.get_sku_or_404(sku_id)
    form = TierPriceForm()
    clearing = form.clear.data or not (form.price.raw_data or [""])[0].strip()
    if clearing or form.validate_on_submit():
        price = None if clearing else form.price.data
        try:
            resellers.set_tier_price(tier, sku, price, current_user.id)
        except DomainError as e:
            return _prices_page(tier, {sku.id: str(e.message)}, 422)
        flash(_("Price of %(sku)s for %(tier)s cleared.", sku=sku.sku, tier=tier.name) if price is None else
              _("Price of %(sku)s for %(tier)s saved.", sku=sku.sku, tier=tier.name), "success")
        return redirect(url_for("ops.tier_prices", tier_id=tier.id) + f"#sku-{sku.id}", 303)
    return _prices_page(tier, {sku.id: " ".join(str(e) for e in form.price.errors)}, 422)


# --- resellers --------------------------------------------------------------------------------------------

@bp.get("/resellers")
def resellers_list():
    page = resellers.resellers_page(**cursor_args())
    ids = [r.id for r in page.items]
    return render("ops/resellers.html", page=page, balances=balance.of_many(ids),
                  pool_counts=pools.counts_by_reseller(ids))


@bp.route("/resellers/new", methods=["GET", "POST"])
@fresh_mfa_required
def reseller_new():
    """Create a reseller; the page that answers shows its API secret this once (it is never shown again)."""
    form = ResellerForm()
    form.tier_id.choices = _tier_choices()
    if form.validate_on_submit():
        try:
            reseller, cred, secret = resellers.create(form.name.data, resellers.get_tier(form.tier_id.data),
                                                      current_user.id, opening_balance_fen=form.opening_balance.data,
                                                      propose_opening=True)
        except DomainError as e:
            show_error(form, e)
        else:
            resp = render("ops/reseller_created.html", reseller=reseller, cred=cred, secret=secret,
                          pending=proposals.pending_for("reseller", reseller.id))
            resp.headers["Cache-Control"] = "no-store"
            return resp
    return render("ops/reseller_form.html", form=form, reseller=None)


@bp.get("/resellers/<int:reseller_id>")
def reseller_detail(reseller_id: int):
    reseller = resellers.get(reseller_id)
    return render("ops/reseller.html", reseller=reseller, balance_fen=balance.of(reseller.id),
                  pools=pools.pools_of(reseller.id), orders=wholesale.recent(reseller.id, RECENT_ORDERS),
                  keys=credentials.list_for(reseller.id), pending=proposals.pending_for("reseller", reseller.id))


@bp.route("/resellers/<int:reseller_id>/edit", methods=["GET", "POST"])
def reseller_edit(reseller_id: int):
    reseller = resellers.get(reseller_id)
    form = ResellerEditForm(tier_id=reseller.tier_id, status=reseller.status, low_balance=reseller.low_balance_fen)
    form.tier_id.choices = _tier_choices()

    def save():
        tier = resellers.get_tier(form.tier_id.data) if form.tier_id.data and not reseller.parent_id else None
        resellers.update(reseller, current_user.id, tier=tier, status=form.status.data,
                         low_balance_fen=form.low_balance.data)
        return reseller

    return submit(form, save, lambda r: _("Reseller %(name)s saved.", name=r.name), "ops.reseller_detail",
                  reseller_id=reseller.id) \
        or render("ops/reseller_form.html", form=form, reseller=reseller)


# --- pools ------------------------------------------------------------------------------------------------

def _pools_page(allocate: AllocateForm | None = None, reclaim_errors: dict | None = None, status_code: int = 200):
    if allocate is None:
        allocate = AllocateForm(formdata=None)
    allocate.reseller_id.choices = [SelectChoice(r.id, r.name) for r in resellers.all_resellers()]
    allocate.sku_id.choices = [SelectChoice(s.id, f"{s.sku} · {s.name}") for s in catalog.list_skus()
                               if pools.poolable(s)]
    return render("ops/pools.html", page=pools.pools_page(page_number()), allocate=allocate, reclaim_errors=reclaim_errors or {},
                  status_code=status_code)


@bp.route("/pools", methods=["GET", "POST"])
def pools_list():
    """All pools, and the form that ring-fences stock (a new pool, or more units for an existing one)."""
    if request.method == "GET":
        return _pools_page()
    form = AllocateForm()
    _pools_page(form)  # fills the choices the form validates against
    if form.validate_on_submit():
        try:
            sku = catalog.get_sku_or_404(form.sku_id.data)
            pools.allocate(sku, resellers.get(form.reseller_id.data), form.quantity.data, current_user.id,
                           allow_shared=form.allow_shared.data)
        except DomainError as e:
            show_error(form, e)
        else:
            flash(_("%(n)s units of %(sku)s ring-fenced.", n=form.quantity.data, sku=sku.sku), "success")
            return redirect(url_for("ops.pools_list"), 303)
    return _pools_page(form, status_code=422)


@bp.post("/pools/<int:pool_id>/reclaim")
def pool_reclaim(pool_id: int):
    pool = pools.get(pool_id)
    form = ReclaimForm()
    error = None
    if not form.validate_on_submit():
        error = " ".join(str(e) for e in form.quantity.errors)
    elif not form.all.data and form.quantity.data is None:
        error = _("Enter how many units to reclaim, or reclaim all.")
    else:
        try:
            moved = pools.reclaim(pool, None if form.all.data else form.quantity.data, current_user.id)
        except DomainError as e:
            error = str(e.message)
        else:
            flash(_("%(n)s units returned to shared stock.", n=moved), "success")
            return redirect(url_for("ops.pools_list") + f"#pool-{pool.id}", 303)
    return _pools_page(reclaim_errors={pool.id: error}, status_code=422)


@bp.post("/pools/<int:pool_id>/allow-shared")
def pool_allow_shared(pool_id: int):
    pool = pools.get(pool_id)
    form = AllowSharedForm()
    if form.validate_on_submit():
        pools.set_allow_shared(pool, form.allow.data, current_user.id)
        flash(_("This reseller's orders may now also take shared stock.") if form.allow.data
              else _("This reseller's orders now take only its pool."), "success")
    return redirect(url_for("ops.pools_list") + f"#pool-{pool.id}", 303)


# --- code lookup --------------------------------------------------------------------------------------------

@bp.route("/codes/lookup", methods=["GET", "POST"])
def code_lookup():
    """Paste a code (POSTed, so it never lands in a URL or an access log); found → its trace page."""
    form = CodeLookupForm()
    not_found = False
    if form.validate_on_submit():
        try:
            code = trace.lookup(form.code.data, current_user.id, request.remote_addr)
        except DomainError as e:
            show_error(form, e)
        else:
            if code is not None:
                return redirect(url_for("ops.code_trace", code_id=code.id), 303)
            not_found = True
    form.code.data = ""  # never echo the pasted code back
    form.code.raw_data = None
    return render("ops/code_lookup.html", form=form, not_found=not_found)


@bp.get("/codes/<int:code_id>")
def code_trace(code_id: int):
    return render("ops/code_lookup_result.html", t=trace.trace(code_id))
