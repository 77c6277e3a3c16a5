"""Loyalty's tables, one module per feature; importing this package registers them all."""
from app.loyalty.models import (
    points,  # noqa: F401
    referral,  # noqa: F401
    subscriptions,  # noqa: F401
    wallet,  # noqa: F401  stored-value and gift cards
)
from app.loyalty.models.levels import (  # noqa: F401
    GrowthEntry,
    LevelGift,
    LevelSettings,
    LevelSkuRule,
    MemberLevel,
    MemberStatus,
)
