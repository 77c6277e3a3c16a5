"""The demo's membership and loyalty setup, made through the loyalty services as ops would make it: three member
levels, the points settings and a small points mall, two stored-value cards, a monthly subscription plan,
referral rates on a few SKUs, and opening points for the demo consumer. Each piece is made only if missing
(what ops changed later stays); the consumer's points are one keyed grant. Running it again adds nothing."""

from app.accounts.models import User
from app.catalog.models import Sku
from app.core.money import parse_yuan
from app.extensions import db
from app.loyalty import levels, points, points_earning, points_mall, subscriptions, wallet_cards
from app.loyalty.models.points import PointsSettings
from app.loyalty.referral import commissions

#: name, badge, growth threshold, member price in percent of the list price.
LEVELS = (("普通会员", "V1", 0, 100), ("白银会员", "V2", 500, 98), ("黄金会员", "V3", 2000, 95))
#: points per yuan paid, the 7-day check-in streak bonuses, expiry rule and days, reminder days before expiry.
POINTS_SETTINGS = dict(earn_per_yuan=1, checkin_points=[5, 5, 10, 10, 15, 15, 30], expiry_mode="year_end",
                       expiry_days=365, remind_days=30)
#: SKU, title, points, cash part (yuan): one item for points only, two for points plus cash.
MALL_ITEMS = (("GENSHIN-60", "原神 60 创世结晶（积分兑换）", 600, "0.00"),
              ("LUCKIN-CUP-1", "瑞幸咖啡 大杯饮品券（积分+现金）", 1000, "9.90"),
              ("QQMUSIC-GREEN-1M", "QQ音乐 豪华绿钻 月卡（积分+现金）", 800, "6.00"))
#: name, fixed amount, minimum, maximum, bonus step, bonus (yuan; "" where not used).
CARDS = (("100元储值卡（充100送10）", "100.00", "", "", "100.00", "10.00"),
         ("自选金额储值卡", "", "50.00", "2000.00", "", ""))
#: The monthly plan: SKU, name, price per month (fen), reminder days before a charge.
PLAN = ("TXSP-VIP-1M", "腾讯视频 VIP 连续包月", 2500, 3)
#: Referral commission in percent, by SKU.
REFERRAL_RATES = (("TXSP-VIP-1M", "5"), ("IQIYI-GOLD-12M", "8"), ("LUCKIN-CUP-5", "3"), ("SBUX-GIFT-100", "2"))
#: The demo consumer's opening points: amount, reason, and the grant's key (it is given once).
CONSUMER_POINTS = (2000, "新会员欢迎礼（演示数据）", "demo-seed")


def seed(ops: User, consumer: User, skus: dict[str, Sku]) -> None:
    _levels(ops)
    _points(ops, consumer, skus)
    _cards(ops)
    _plan(ops, skus)
    _referral(ops, skus)


def _levels(ops: User) -> None:
    existing = {level.name for level in levels.all_levels()}
    for name, badge, threshold, pct in LEVELS:
        if name not in existing:
            levels.save_level(ops.id, name=name, badge=badge, threshold=threshold, discount_pct=pct)


def _points(ops: User, consumer: User, skus: dict[str, Sku]) -> None:
    if db.session.get(PointsSettings, 1) is None:
        points.save_settings(ops.id, **POINTS_SETTINGS)
    stocked = {item.sku_id for item in points_mall.items(active_only=False)}
    for code, title, cost, cash in MALL_ITEMS:
        if skus[code].id not in stocked:
            points_mall.save_item(ops.id, sku_id=skus[code].id, title=title, points_=cost,
                                  cash_fen=parse_yuan(cash))
    amount, reason, key = CONSUMER_POINTS
    points_earning.grant_rows(ops.id, [consumer.id], amount, reason, key=key)  # keyed: a second run is a no-op
    db.session.commit()


def _cards(ops: User) -> None:
    existing = {product.name for product in wallet_cards.products(active_only=False)}
    for position, (name, fixed, lo, hi, step, bonus) in enumerate(CARDS):
        if name not in existing:
            wallet_cards.save_product(ops, None, name=name, fixed=fixed, minimum=lo, maximum=hi, bonus_step=step,
                                      bonus=bonus, position=position)


def _plan(ops: User, skus: dict[str, Sku]) -> None:
    code, name, price_fen, reminder_days = PLAN
    if not any(plan.name == name for plan in subscriptions.all_plans()):
        subscriptions.create_plan(ops, sku_id=skus[code].id, name=name, period_months=1, price_fen=price_fen,
                                  reminder_days=reminder_days)


def _referral(ops: User, skus: dict[str, Sku]) -> None:
    for code, percent in REFERRAL_RATES:
        if not commissions.rate_of(skus[code].id):
            commissions.set_rate(skus[code].id, percent, actor_id=ops.id)
