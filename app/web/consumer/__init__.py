"""The consumer benefit center: shop, checkout, orders, my benefits, benefits granted by an employer.

The blueprint lives here; the page modules imported below add their routes to it."""

from flask import Blueprint

bp = Blueprint("consumer", __name__, url_prefix="/me")

from app.web.consumer import coupon_views, flash_views, grant_views, group_views, invitation_views, views  # noqa: E402,F401,I001  (they add their routes to bp)
from app.web.consumer import wallet_views  # noqa: E402,F401,I001
from app.web.consumer import referral_views  # noqa: E402,F401,I001
from app.web.consumer import levels_views  # noqa: E402,F401,I001
from app.web.consumer import subscription_views  # noqa: E402,F401,I001
from app.web.consumer import points_views  # noqa: E402,F401,I001
from app.web.consumer import again_views  # noqa: E402,F401,I001
from app.web.consumer import case_views  # noqa: E402,F401,I001
