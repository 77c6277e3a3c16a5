"""Ops supplier pages: the suppliers (credentials sealed, the key never shown back) and a SKU's mappings to
them, which live on the SKU's page in failover order."""

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.catalog import services as catalog
from app.core.errors import DomainError
from app.suppliers import services as suppliers
from app.web.forms import submit
from app.web.ops import bp
from app.web.ops.catalog_views import mapping_form, sku_page
from app.web.ops.forms import ADAPTER_LABELS, SupplierForm
from app.web.paging import page_number
from app.web.render import render


def _saved(supplier) -> str:
    return _("Supplier %(name)s saved.", name=supplier.name)


@bp.get("/suppliers")
def suppliers_list():
    return render("ops/suppliers.html", page=suppliers.suppliers_page(page_number()), adapter_labels=ADAPTER_LABELS)


@bp.route("/suppliers/new", methods=["GET", "POST"])
def supplier_new():
    form = SupplierForm()
    return submit(form, lambda: suppliers.save_supplier(current_user.id, **form.supplier_fields()), _saved,
                  "ops.suppliers_list") \
        or render("ops/supplier_form.html", form=form, supplier=None)


@bp.route("/suppliers/<int:supplier_id>/edit", methods=["GET", "POST"])
def supplier_edit(supplier_id: int):
    """Edit a supplier; its code stays (suppliers call back on a URL made from it), an empty key keeps the
    one on file."""
    supplier = suppliers.get(supplier_id)
    form = SupplierForm(obj=supplier)
    form.code.data = supplier.code
    return submit(form, lambda: suppliers.save_supplier(current_user.id, supplier_id=supplier.id,
                                                        **form.supplier_fields()), _saved, "ops.suppliers_list") \
        or render("ops/supplier_form.html", form=form, supplier=supplier,
                  callback_url=suppliers.callback_url(supplier))


@bp.post("/skus/<int:sku_id>/mappings")
def sku_mapping_save(sku_id: int):
    """Add or update the SKU's mapping to a supplier; the supplier is asked about the product first."""
    sku = catalog.get_sku_or_404(sku_id)
    form = mapping_form()
    return submit(form, lambda: suppliers.save_mapping(current_user.id, sku_id=sku.id, **form.mapping_fields()),
                  lambda m: _("%(supplier)s now sells this SKU as %(product)s.", supplier=m.supplier.name,
                              product=m.product_id), "ops.sku_edit", sku_id=sku.id) \
        or sku_page(sku, mappings=form)


@bp.post("/skus/<int:sku_id>/mappings/<int:mapping_id>/delete")
def sku_mapping_delete(sku_id: int, mapping_id: int):
    if mapping_id not in {m.id for m in suppliers.mappings_for(sku_id, active_only=False)}:
        abort(404)
    try:
        suppliers.delete_mapping(current_user.id, mapping_id)
    except DomainError as e:
        flash(str(e.message), "danger")
    else:
        flash(_("Mapping removed."), "success")
    return redirect(url_for("ops.sku_edit", sku_id=sku_id), 303)
