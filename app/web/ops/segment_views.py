"""Ops segments (人群): rules, the size before use (also previewed while editing), and bulk actions over the
members, done by a job with a self-replacing progress widget."""

from flask import redirect, request, url_for
from flask_login import current_user

from app.core.errors import DomainError, ValidationError
from app.marketing import bulk, segments
from app.web.ops import bp
from app.web.ops.marketing_forms import SegmentForm, show_errors
from app.web.paging import page_number
from app.web.render import render


@bp.get("/marketing/segments/")
def segments_list():
    return render("ops/marketing/segments.html", page=segments.segments_page(page_number()))


def _form_page(form: SegmentForm, segment):
    if form.validate_on_submit():
        try:
            saved = segments.save(current_user.id, name=form.name.data, rules=form.rules(),
                                  segment_id=segment.id if segment else None)
        except DomainError as e:
            show_errors(form, e)
        else:
            return redirect(url_for("ops.segment", segment_id=saved.id), 303)
    return render("ops/marketing/segment_form.html", form=form, segment=segment)


@bp.route("/marketing/segments/new", methods=["GET", "POST"])
def segment_new():
    return _form_page(SegmentForm(), None)


@bp.route("/marketing/segments/<int:segment_id>/edit", methods=["GET", "POST"])
def segment_edit(segment_id: int):
    segment = segments.get(segment_id)
    return _form_page(SegmentForm.of(segment), segment)


@bp.post("/marketing/segments/size")
def segment_size():
    """The size of the rules being edited, before they are saved (the form's preview button, HTMX)."""
    form = SegmentForm()
    form.validate()
    try:
        size, error = segments.size(segments.clean_rules(form.rules())), None
    except ValidationError as e:
        size, error = None, e.message
    return render("ops/marketing/segment_form.html", "size", size=size, size_error=error, form=form, segment=None)


@bp.get("/marketing/segments/<int:segment_id>")
def segment(segment_id: int):
    return _segment_page(segments.get(segment_id))


def _segment_page(segment, action_errors=None, status_code=200):
    return render("ops/marketing/segment.html", status_code=status_code, segment=segment,
                  size=segments.size(segment.rules), rules=segments.RULES, brands={b.id: b.name
                                                                                    for b in segments.brands()},
                  actions=bulk.ACTIONS, runs=bulk.runs_of(segment.id), action_errors=action_errors or {},
                  chosen=request.form)


@bp.post("/marketing/segments/<int:segment_id>/runs")
def segment_run_start(segment_id: int):
    segment = segments.get(segment_id)
    action = request.form.get("action", "")
    prefix = f"{action}__"  # each action's inputs are named after it: several actions share the form
    try:
        run = bulk.start(current_user.id, segment.id, action,
                         {k[len(prefix):]: v for k, v in request.form.items() if k.startswith(prefix)})
    except DomainError as e:
        errors = {x.details.get("field") or "action": str(x.message) for x in e.details.get("errors") or [e]}
        return _segment_page(segment, errors, 422)
    return redirect(url_for("ops.segment_run", run_id=run.id), 303)


@bp.get("/marketing/runs/<int:run_id>")
def segment_run(run_id: int):
    """The run's page; its `progress` block alone when the widget polls (until the run is finished)."""
    run = bulk.get_run(run_id)
    progress = bulk.job_progress(run) if run.status not in bulk.FINISHED else None
    return render("ops/marketing/run.html", "progress", run=run, segment=segments.get(run.segment_id),
                  action=bulk.ACTIONS.get(run.action), progress=progress)
