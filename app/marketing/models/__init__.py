"""Marketing's tables, one module per feature; importing this package registers them all."""

from app.marketing.models.campaigns import CAMPAIGN_TRANSITIONS, Campaign, CampaignStatus  # noqa: F401
from app.marketing.models.groups import GROUP_TRANSITIONS, Group, GroupMember, GroupOffer, GroupStatus  # noqa: F401
from app.marketing.models.promotions import OrderPromotion  # noqa: F401
