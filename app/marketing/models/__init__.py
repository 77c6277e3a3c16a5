"""Marketing's tables, one module per feature; importing this package registers them all."""

from app.marketing.models.campaigns import CAMPAIGN_TRANSITIONS, Campaign, CampaignStatus  # noqa: F401
from app.marketing.models.coupons import (  # noqa: F401
    COUPON_TRANSITIONS,
    Coupon,
    CouponKind,
    CouponScope,
    CouponStatus,
    CouponTemplate,
    ExchangeCode,
    TemplateStatus,
)
from app.marketing.models.flash import FlashSale, FlashUnit  # noqa: F401
from app.marketing.models.groups import GROUP_TRANSITIONS, Group, GroupMember, GroupOffer, GroupStatus  # noqa: F401
from app.marketing.models.offers import (  # noqa: F401
    CrossSellPin,
    CrossSellUse,
    FirstOrderClaim,
    FirstOrderOffer,
    GiftOffer,
    OrderGift,
    Recommendation,
)
from app.marketing.models.promotions import OrderPromotion  # noqa: F401
from app.marketing.models.segments import (  # noqa: F401
    RUN_TRANSITIONS,
    RunStatus,
    Segment,
    SegmentRun,
    SegmentRunMember,
)
