"""Benefit packs: the list with enterprise and retail prices, a pack's page, and the compose/edit form
(its price block alone when an item or the kind changes). HR admins write; approvers read."""

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.accounts.models import Role
from app.core.errors import DomainError
from app.core.labels import LABELS
from app.procurement import enterprises, packs
from app.web.access import roles_required
from app.web.enterprise import bp
from app.web.forms import REQUIRED, show_error
from app.web.paging import page_number
from app.web.render import render

#: Item quantities come as qty-<sku id> fields, one per SKU on the form.
QTY_PREFIX = "qty-"


class PackForm(FlaskForm):
    name = StringField(_l("Pack name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, v) for k, v in LABELS["pack_kind"].items()],
                       description=_l("A fixed set gives each employee every item; with choose one of N, each "
                                      "employee picks one option (one unit each)."))
    description = TextAreaField(_l("Description"), validators=[Length(max=300)])


def _quantities(data) -> tuple[dict[int, int], bool]:
    """{sku id: quantity} of the filled-in quantity fields (blank or 0 leaves a SKU out), and whether one of
    them was not a whole number."""
    out, bad = {}, False
    for key, value in data.items(multi=True):
        if not key.startswith(QTY_PREFIX) or not key[len(QTY_PREFIX):].isdigit():
            continue
        value = (value or "").strip()
        if value in ("", "0"):
            continue
        try:
            out[int(key[len(QTY_PREFIX):])] = int(value)
        except ValueError:
            bad = True
    return out, bad


def _unit_price(sku) -> int:
    return enterprises.price_of(g.enterprise, sku)


def _form_page(form: PackForm, qty: dict[int, int], pack=None, status_code: int = 200):
    groups = packs.choosable_by_product()
    on_sale = {s.id: s for grp in groups for s in grp.skus}
    price_fen, retail_fen = packs.quote(g.enterprise, form.kind.data,
                                        [(on_sale[i], q) for i, q in qty.items() if i in on_sale and q > 0])
    gone = [item.sku for item in pack.items if item.sku_id not in on_sale] if pack else []
    return render("enterprise/pack_form.html", "price", form=form, pack=pack, groups=groups, qty=qty, gone=gone,
                  price_fen=price_fen, retail_fen=retail_fen, unit_price=_unit_price, status_code=status_code)


def _save(form: PackForm, pack=None):
    """Validate and save; a redirect on success, else the form again (422) with the reason."""
    qty, bad = _quantities(request.form)
    if form.validate_on_submit():
        if bad:
            form.form_errors.append(_("Each quantity must be a whole number."))
        else:
            try:
                saved = packs.save(g.enterprise, current_user._get_current_object(), name=form.name.data,
                                   kind=form.kind.data, items=list(qty.items()), description=form.description.data,
                                   pack_id=pack.id if pack else None)
            except DomainError as e:
                show_error(form, e)
            else:
                flash(_("Pack %(name)s saved.", name=saved.name), "success")
                return redirect(url_for("enterprise.pack", pack_id=saved.id), 303)
    return _form_page(form, qty, pack, 422)


@bp.get("/packs", endpoint="packs")
def pack_list():
    return render("enterprise/packs.html", page=packs.priced_page(g.enterprise, page_number()))


@bp.get("/packs/<int:pack_id>")
def pack(pack_id: int):
    p = packs.get(g.enterprise, pack_id)
    return render("enterprise/pack.html", pack=p, price_fen=packs.price(g.enterprise, p),
                  retail_fen=packs.retail_price(p), unit_price=_unit_price)


@bp.route("/packs/new", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def pack_new():
    """The form; its `price` block alone (HTMX) as items are picked."""
    if request.method == "POST":
        return _save(PackForm())
    return _form_page(PackForm(formdata=request.args or None), _quantities(request.args)[0])


@bp.route("/packs/<int:pack_id>/edit", methods=["GET", "POST"])
@roles_required(Role.hr_admin)
def pack_edit(pack_id: int):
    p = packs.get(g.enterprise, pack_id)
    if request.method == "POST":
        return _save(PackForm(), p)
    if request.args:
        return _form_page(PackForm(formdata=request.args), _quantities(request.args)[0], p)
    return _form_page(PackForm(obj=p), {item.sku_id: item.quantity for item in p.items}, p)


@bp.post("/packs/<int:pack_id>/active")
@roles_required(Role.hr_admin)
def pack_active(pack_id: int):
    """Deactivate (no new requests can choose it; filed ones keep it) or reactivate a pack."""
    active = request.form.get("active") == "1"
    p = packs.set_active(g.enterprise, current_user._get_current_object(), pack_id, active)
    flash(_("Pack %(name)s is offered again.", name=p.name) if active else
          _("Pack %(name)s is no longer offered.", name=p.name), "success")
    return redirect(url_for("enterprise.pack", pack_id=p.id), 303)
