"""Voiding a banned batch (批量作废): confirm from a batch's page or with a list of codes, then the void's page
with its self-replacing progress widget and the summary of who was affected (XLSX)."""

from flask import Response, redirect, request, url_for
from flask_login import current_user

from app.core.errors import DomainError
from app.inventory import imports
from app.service import void_report, voids
from app.web.forms import show_error
from app.web.ops import bp
from app.web.ops.void_forms import CodeListVoidForm, VoidForm
from app.web.render import render


@bp.route("/imports/<int:batch_id>/void", methods=["GET", "POST"])
def void_batch(batch_id: int):
    batch = imports.get_batch(batch_id)
    done = voids.batch_void(batch_id)
    if done is not None:
        return redirect(url_for("ops.void_detail", void_id=done.id), 303)
    form = VoidForm()
    if form.validate_on_submit():
        try:
            void = voids.start_void(current_user, reason=form.reason.data, rule=form.rule.data, batch_id=batch_id)
        except DomainError as e:
            show_error(form, e)
        else:
            return redirect(url_for("ops.void_detail", void_id=void.id), 303)
    skus, _ = imports.batch_labels([batch])
    return render("ops/void_form.html", form=form, batch=batch, sku=skus.get(batch.sku_id))


@bp.route("/voids/new", methods=["GET", "POST"])
def void_codes():
    form = CodeListVoidForm()
    if form.validate_on_submit():
        text = form.codes.data or ""
        if form.file.data:
            text += "\n" + form.file.data.read().decode("utf-8-sig", errors="replace")
        try:
            void = voids.start_void(current_user, reason=form.reason.data, rule=form.rule.data,
                                    codes=voids.parse_codes(text))
        except DomainError as e:
            show_error(form, e)
        else:
            return redirect(url_for("ops.void_detail", void_id=void.id), 303)
    return render("ops/void_form.html", form=form, batch=None)


@bp.get("/voids")
def void_list():
    return render("ops/voids.html", page=voids.list_voids(page=request.args.get("page", 1, type=int)))


@bp.get("/voids/<int:void_id>")
def void_detail(void_id: int):
    """The void's page; its `progress` block alone while the widget polls (until the void is done)."""
    void = voids.get_void(void_id)
    rows = void_report.affected(void_id)
    return render("ops/void.html", "progress", void=void, progress=voids.progress(void), rows=rows,
                  shown=void_report.SHOWN, affected=void_report.affected_counts(rows),
                  batch_id=void.batch_id)


@bp.get("/voids/<int:void_id>/affected.xlsx")
def void_affected_xlsx(void_id: int):
    void = voids.get_void(void_id)
    return Response(void_report.affected_xlsx(void.id),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="void-{void.id}-affected.xlsx"'})
