"""Ops catalog pages: brands, products and SKUs (with a bundle's components), with HTMX inline editing of
a SKU's row. A SKU's supplier mappings are edited on its page too (supplier_views.py)."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.catalog import bundles
from app.catalog import services as catalog
from app.catalog.models import SkuType
from app.channels.resellers import percent
from app.core.errors import DomainError
from app.inventory import services as inventory
from app.suppliers import services as suppliers
from app.web.forms import show_error, submit
from app.web.ops import bp
from app.web.ops.forms import (
    BrandForm,
    ComponentForm,
    MappingForm,
    ProductForm,
    SkuForm,
    SkuRowForm,
)
from app.web.paging import page_number
from app.web.render import render, wants_fragment


def _saved(_obj) -> str:
    return _("Saved.")


# --- brands ---------------------------------------------------------------------------------------------

@bp.route("/brands", methods=["GET", "POST"])
def brands():
    form = BrandForm()
    return submit(form, lambda: catalog.create_brand(current_user.id, form.name.data, form.category.data),
                   lambda b: _("Brand %(name)s created.", name=b.name), "ops.brands") \
        or render("ops/brands.html", form=form, page=catalog.brands_page(page_number()))


@bp.route("/brands/<int:brand_id>/edit", methods=["GET", "POST"])
def brand_edit(brand_id: int):
    brand = catalog.get_brand(brand_id)
    form = BrandForm(obj=brand)
    return submit(form, lambda: catalog.update_brand(current_user.id, brand.id, form.name.data,
                                                      form.category.data), _saved, "ops.brands") \
        or render("ops/brand_form.html", form=form, brand=brand)


# --- products -------------------------------------------------------------------------------------------

def _product_form(**kwargs) -> ProductForm:
    form = ProductForm(**kwargs)
    form.brand_id.choices = [SelectChoice(b.id, b.name) for b in catalog.list_brands()]
    return form


def _product_args(form: ProductForm) -> tuple:
    return form.brand_id.data, form.name.data, form.category.data, form.instructions.data


@bp.get("/products")
def products():
    return render("ops/products.html", page=catalog.products_page(page_number()))


@bp.route("/products/new", methods=["GET", "POST"])
def product_new():
    form = _product_form(brand_id=request.args.get("brand_id", type=int))
    return submit(form, lambda: catalog.create_product(current_user.id, *_product_args(form)),
                   lambda p: _("Product %(name)s created.", name=p.name), "ops.products") \
        or render("ops/product_form.html", form=form, product=None)


@bp.route("/products/<int:product_id>/edit", methods=["GET", "POST"])
def product_edit(product_id: int):
    product = catalog.get_product(product_id)
    form = _product_form(obj=product, instructions=product.instructions_html)
    return submit(form, lambda: catalog.update_product(current_user.id, product.id, *_product_args(form)),
                   _saved, "ops.products") \
        or render("ops/product_form.html", form=form, product=product)


# --- SKUs -----------------------------------------------------------------------------------------------

def _sku_form(**kwargs) -> SkuForm:
    form = SkuForm(**kwargs)
    form.product_id.choices = [SelectChoice(p.id, f"{p.brand.name} · {p.name}")
                               for p in catalog.list_products()]
    return form


def _row_form(sku, formdata=None) -> SkuRowForm:
    """A row's form; the prefix keeps field ids unique when several rows are open at once."""
    kwargs = {} if formdata is not None else {"obj": sku, "face_value": sku.face_value_fen,
                                              "price": sku.price_fen}
    return SkuRowForm(formdata=formdata, prefix=f"sku{sku.id}", **kwargs)


@bp.get("/skus")
def skus():
    product_id = request.args.get("product_id", type=int)
    page = catalog.skus_page(product_id, page_number())
    editing = request.args.get("edit", type=int)
    row_form = next((_row_form(s) for s in page.items if s.id == editing), None)
    return render("ops/skus.html", page=page, product_id=product_id, stock=inventory.available_counts(),
                  editing=editing, form=row_form)


@bp.route("/skus/new", methods=["GET", "POST"])
def sku_new():
    form = _sku_form(product_id=request.args.get("product_id", type=int))
    return submit(form, lambda: catalog.create_sku(current_user.id, form.product_id.data, form.sku.data,
                                                    **form.sku_fields()),
                   lambda s: _("SKU %(sku)s created.", sku=s.sku),
                   # On to its page: that is where its suppliers or a bundle's components are added.
                   lambda s: url_for("ops.sku_edit", sku_id=s.id)) \
        or render("ops/sku_form.html", form=form, sku=None)


def mapping_form(**kwargs) -> MappingForm:
    form = MappingForm(prefix="mapping", **kwargs)
    form.supplier_id.choices = [SelectChoice(s.id, s.name + ("" if s.active else " " + _("(inactive)")))
                                for s in suppliers.list_suppliers()]
    return form


def component_form(bundle_id: int, **kwargs) -> ComponentForm:
    form = ComponentForm(prefix="component", **kwargs)
    form.component_id.choices = [SelectChoice(s.id, f"{s.sku} · {s.name}")
                                 for s in bundles.component_choices(bundle_id)]
    form.partner_id.choices = [SelectChoice("", _("None: all ours"))] + [
        SelectChoice(p.id, p.name) for p in bundles.partner_choices()]
    return form


def _sku_edit_form(sku, formdata=None) -> SkuForm:
    """The SKU's own form; formdata=None when the page is shown again after another form's POST."""
    form = _sku_form(formdata=formdata, obj=sku, face_value=sku.face_value_fen, price=sku.price_fen)
    form.sku.data = sku.sku
    return form


def sku_page(sku, form: SkuForm | None = None, mappings: MappingForm | None = None,
             components: ComponentForm | None = None):
    """The SKU's page: its form, then a bundle's components or the supplier mappings (failover order)."""
    form = form or _sku_edit_form(sku)
    # A refused component form shows its error even on a SKU that is not a bundle (a hand-made POST).
    is_bundle = sku.type == SkuType.bundle or components is not None
    ctx = {"components": components or component_form(sku.id, formdata=None)} if is_bundle else {
        "mappings": suppliers.mappings_for(sku.id, active_only=False),
        "mapping_form": mappings or mapping_form(formdata=None)}
    return render("ops/sku_form.html", form=form, sku=sku, percent=percent, **ctx)


@bp.route("/skus/<int:sku_id>/edit", methods=["GET", "POST"])
def sku_edit(sku_id: int):
    """The whole-page editor (also the fallback without JavaScript); the SKU code itself never changes."""
    sku = catalog.get_sku_or_404(sku_id)
    form = _sku_edit_form(sku, formdata=request.form if request.method == "POST" else None)
    return submit(form, lambda: catalog.update_sku(current_user.id, sku.id, product_id=form.product_id.data,
                                                    **form.sku_fields()), _saved, "ops.skus") \
        or sku_page(sku, form)


@bp.post("/skus/<int:sku_id>/components")
def sku_component_save(sku_id: int):
    """Add a SKU to a bundle, or change how many units of it the bundle holds."""
    sku = catalog.get_sku_or_404(sku_id)
    form = component_form(sku.id)
    return submit(form, lambda: bundles.set_component(current_user.id, sku.id, form.component_id.data,
                                                       form.quantity.data, form.partner_id.data, form.share.data),
                   lambda _c: _("Bundle updated."), "ops.sku_edit", sku_id=sku.id) \
        or sku_page(sku, components=form)


@bp.post("/skus/<int:sku_id>/components/<int:component_id>/delete")
def sku_component_delete(sku_id: int, component_id: int):
    try:
        bundles.remove_component(current_user.id, sku_id, component_id)
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Removed from the bundle."), "success")
    return redirect(url_for("ops.sku_edit", sku_id=sku_id), 303)


def _row(sku, block: str, **ctx):
    stock = inventory.available_counts([sku.id])
    editing = sku.id if block == "sku_edit_row" else None
    return render("ops/skus.html", block, sku=sku, stock=stock, editing=editing, **ctx)


@bp.get("/skus/<int:sku_id>/row")
def sku_row(sku_id: int):
    if not wants_fragment():
        return redirect(url_for("ops.skus"), 303)
    return _row(catalog.get_sku_or_404(sku_id), "sku_row")


@bp.get("/skus/<int:sku_id>/row/edit")
def sku_row_edit(sku_id: int):
    if not wants_fragment():
        return redirect(url_for("ops.skus", edit=sku_id), 303)
    sku = catalog.get_sku_or_404(sku_id)
    return _row(sku, "sku_edit_row", form=_row_form(sku))


@bp.post("/skus/<int:sku_id>/row")
def sku_row_save(sku_id: int):
    """Save an inline edit: the plain row again, or the editing row with its errors (nothing saved)."""
    sku = catalog.get_sku_or_404(sku_id)
    form = _row_form(sku, formdata=request.form)
    if form.validate():
        try:
            sku = catalog.update_sku(current_user.id, sku.id, **form.sku_fields())
        except DomainError as e:
            show_error(form, e)
        else:
            if not wants_fragment():
                return redirect(url_for("ops.skus"), 303)
            return _row(sku, "sku_row")
    if not wants_fragment():
        return render("ops/skus.html", page=catalog.skus_page(page=page_number()), product_id=None,
                      stock=inventory.available_counts(), editing=sku.id, form=form)
    return _row(sku, "sku_edit_row", form=form)
