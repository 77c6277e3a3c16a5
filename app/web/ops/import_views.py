"""Ops code imports: upload (CSV/XLSX), the self-replacing progress widget, batch list and detail."""

from flask import Response, redirect, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from app.catalog import services as catalog
from app.core.errors import DomainError
from app.inventory import imports
from app.web.forms import show_error
from app.web.ops import bp
from app.web.ops.forms import ImportForm
from app.web.render import render

#: Rejected lines shown on the page; all of them are in the CSV download.
SHOWN_REJECTIONS = 500


@bp.get("/imports")
def import_batches():
    sku_id = request.args.get("sku_id", type=int)
    page = imports.list_batches(page=request.args.get("page", 1, type=int), sku_id=sku_id)
    skus, users = imports.batch_labels(page.items)
    return render("ops/imports.html", "batches", page=page, batch_skus=skus, batch_users=users, sku_id=sku_id)


@bp.route("/imports/new", methods=["GET", "POST"])
def import_new():
    form = ImportForm(sku_id=request.args.get("sku_id", type=int))
    form.sku_id.choices = [SelectChoice(s.id, f"{s.sku} · {s.name}") for s in catalog.card_code_skus()]
    if form.validate_on_submit():
        upload = form.file.data
        try:
            batch = imports.submit_upload(current_user.id, form.sku_id.data, upload.stream, upload.filename)
        except DomainError as e:
            show_error(form, e)
        else:
            return redirect(url_for("ops.import_batch", batch_id=batch.id), 303)
    return render("ops/import_form.html", form=form)


@bp.get("/imports/<int:batch_id>")
def import_batch(batch_id: int):
    """The batch page; its `progress` block alone when the widget polls (until the batch is finished)."""
    batch = imports.get_batch(batch_id)
    skus, users = imports.batch_labels([batch])
    progress = imports.job_progress(batch) if batch.status not in imports.FINISHED else None
    return render("ops/import_batch.html", "progress", batch=batch, sku=skus.get(batch.sku_id),
                  actor=users.get(batch.actor_id), progress=progress, shown=SHOWN_REJECTIONS)


@bp.get("/imports/<int:batch_id>/rejected.csv")
def import_rejected_csv(batch_id: int):
    batch = imports.get_batch(batch_id)
    return Response("\ufeff" + imports.rejected_csv(batch), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="import-{batch.id}-rejected.csv"'})
