"""The inbox pages."""

from flask import redirect, request, url_for
from flask_login import current_user

from app.accounts.models import Role
from app.notifications import services as inbox
from app.notifications.links import is_relative
from app.web.inbox import bp
from app.web.render import render

#: The inbox wears the layout of the reader's portal.
BASE_TEMPLATE = {
    Role.consumer: "base/consumer.html", Role.employee: "base/consumer.html",
    Role.reseller: "base/reseller.html", Role.hr_admin: "base/enterprise.html",
    Role.approver: "base/enterprise.html", Role.finance: "base/finance.html",
    Role.ops: "base/ops.html", Role.service: "base/service.html", Role.admin: "base/staff.html",
}


@bp.app_template_global()
def inbox_unread() -> int:
    """The navbar badge: the signed-in user's unread count."""
    return inbox.unread_count(current_user) if current_user.is_authenticated else 0


@bp.get("/")
def index():
    page = inbox.list_for(current_user, page=request.args.get("page", 1, type=int))
    return render("inbox/index.html", "inbox_rows", page=page,
                  base_template=BASE_TEMPLATE.get(current_user.role, "base/consumer.html"))


@bp.post("/<int:notification_id>/open", endpoint="open")
def open_notification(notification_id: int):
    """Opening a notification marks it read and follows its link (or comes back here if it has none)."""
    note = inbox.mark_read(current_user, notification_id)
    target = note.link if note.link and is_relative(note.link) else url_for("inbox.index")
    return redirect(target, 303)


@bp.post("/read-all")
def read_all():
    inbox.mark_all_read(current_user)
    return redirect(url_for("inbox.index"), 303)
