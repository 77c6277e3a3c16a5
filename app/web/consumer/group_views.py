"""A group buy's page: who is in, seats left, time left, the link (and its QR code) to share, and "join",
which posts to the shop's buy with the group. Public, so a shared link opens before its reader logs in."""

import segno
from flask import current_app, url_for
from flask_login import current_user

from app.core.ids import utcnow
from app.marketing import groups
from app.web.consumer import bp
from app.web.render import render


@bp.get("/groups/<int:group_id>", endpoint="group")
def group(group_id: int):
    g = groups.get_group(group_id)
    members = groups.members(g)
    share_url = current_app.config["PUBLIC_URL"].rstrip("/") + url_for("consumer.group", group_id=g.id)
    now = utcnow()
    me = groups.member_of(g, current_user)
    return render("consumer/group.html", group=g, offer=g.offer, sku=g.offer.sku, members=members,
                  seats_left=max(0, g.size - len(members)), seconds_left=groups.seconds_left(g, now),
                  joinable=g.status == "open" and g.deadline > now and g.offer.live_at(now),
                  me=me, me_order_no=me and groups.order_no_of(me), share_url=share_url,
                  qr_svg=segno.make(share_url, error="m").svg_inline(scale=4, border=2, omitsize=True))
