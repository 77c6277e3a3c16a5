"""Ops flash sale pages (/ops/marketing/flash/): the sales with sold / held / remaining, create one within a
campaign, edit it before it starts, stop it. Times are typed in the viewer's time zone and stored in UTC."""

from datetime import datetime

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone, to_utc
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange

from app.core.errors import DomainError
from app.core.ids import utcnow
from app.marketing import flash_setup
from app.marketing.models.flash import MAX_PER_USER
from app.web.forms import REQUIRED, YuanField, show_error
from app.web.ops import bp
from app.web.render import render

STATE_LABELS = {"upcoming": _l("Upcoming"), "live": _l("On now"), "ended": _l("Ended"), "stopped": _l("Stopped")}

#: What a browser's datetime-local input sends, with or without seconds.
TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class FlashSaleForm(FlaskForm):
    campaign_id = SelectField(_l("Campaign"), coerce=int, validators=[InputRequired(REQUIRED)])
    sku_id = SelectField(_l("SKU"), coerce=int, validators=[InputRequired(REQUIRED)])
    price = YuanField(_l("Sale price (¥)"))
    quota = IntegerField(_l("Quota (units)"), validators=[
        InputRequired(REQUIRED), NumberRange(1, flash_setup.MAX_QUOTA, _l("Between %(min)s and %(max)s."))])
    per_user_limit = IntegerField(_l("Limit per person"), default=1, validators=[
        InputRequired(REQUIRED), NumberRange(1, MAX_PER_USER, _l("Between %(min)s and %(max)s."))])
    starts_at = DateTimeLocalField(_l("Starts at"), format=TIME_FORMATS, validators=[InputRequired(REQUIRED)])
    ends_at = DateTimeLocalField(_l("Ends at"), format=TIME_FORMATS, validators=[InputRequired(REQUIRED)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.campaign_id.choices = [(c.id, c.name) for c in flash_setup.campaigns_open()]
        self.sku_id.choices = [(s.id, f"{s.name} ({s.sku})") for s in flash_setup.skus_for_sale()]

    def sale_fields(self) -> dict:
        return {"campaign_id": self.campaign_id.data, "sku_id": self.sku_id.data, "price_fen": self.price.data,
                "quota": self.quota.data, "per_user_limit": self.per_user_limit.data,
                "starts_at": _utc(self.starts_at.data), "ends_at": _utc(self.ends_at.data)}

    def show(self, sale) -> None:
        """Fill the form from a sale (times in the viewer's zone)."""
        self.campaign_id.data, self.sku_id.data, self.price.data = sale.campaign_id, sale.sku_id, sale.price_fen
        self.quota.data, self.per_user_limit.data = sale.quota, sale.per_user_limit
        self.starts_at.data, self.ends_at.data = _local(sale.starts_at), _local(sale.ends_at)


def _utc(local: datetime) -> datetime:
    return to_utc(local).replace(tzinfo=None)


def _local(utc: datetime) -> datetime:
    return to_user_timezone(utc).replace(tzinfo=None)


@bp.get("/marketing/flash/")
def flash_sales():
    campaign_id = request.args.get("campaign", type=int)
    sales = flash_setup.for_ops(campaign_id)
    now = utcnow()
    return render("ops/flash_sales.html", sales=sales, figures=flash_setup.figures(sales),
                  states={s.id: s.state_at(now) for s in sales}, state_labels=STATE_LABELS,
                  campaigns=flash_setup.campaigns_open(), campaign_id=campaign_id, editable=flash_setup.editable)


@bp.route("/marketing/flash/new", methods=["GET", "POST"])
def flash_sale_new():
    form = FlashSaleForm()
    if request.method == "GET" and request.args.get("campaign", type=int):
        form.campaign_id.data = request.args.get("campaign", type=int)
    return _save(form, lambda: flash_setup.create(current_user.id, **form.sale_fields())) \
        or render("ops/flash_sale_form.html", form=form, sale=None)


@bp.route("/marketing/flash/<int:sale_id>/edit", methods=["GET", "POST"])
def flash_sale_edit(sale_id: int):
    sale = flash_setup.get(sale_id)
    form = FlashSaleForm()
    if request.method == "GET":
        form.show(sale)
    return _save(form, lambda: flash_setup.update(current_user.id, sale.id, **form.sale_fields())) \
        or render("ops/flash_sale_form.html", form=form, sale=sale, editable=flash_setup.editable(sale),
                  figures=flash_setup.figures([sale])[sale.id])


def _save(form: FlaskForm, save):
    """Like web.forms.submit, but every field a service refused shows its own message."""
    if not form.validate_on_submit():
        return None
    try:
        sale = save()
    except DomainError as e:
        for error in e.details.get("errors", [e]):
            show_error(form, error)
        return None
    flash(_("Flash sale saved."), "success")
    return redirect(url_for("ops.flash_sales", campaign=sale.campaign_id), 303)


@bp.post("/marketing/flash/<int:sale_id>/stop")
def flash_sale_stop(sale_id: int):
    try:
        sale = flash_setup.stop(current_user.id, sale_id)
    except DomainError as e:
        flash(str(e.message), "danger")
        return redirect(url_for("ops.flash_sales"), 303)
    flash(_("Flash sale stopped: nothing more is sold."), "success")
    return redirect(url_for("ops.flash_sales", campaign=sale.campaign_id), 303)
