"""Loyalty's tables, one module per feature; importing this package registers them all."""

from app.loyalty.models.levels import (  # noqa: F401
    GrowthEntry,
    LevelGift,
    LevelSettings,
    LevelSkuRule,
    MemberLevel,
    MemberStatus,
)
