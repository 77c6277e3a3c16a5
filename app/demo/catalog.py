"""The demo catalog: real brands sold in China, with SKUs priced slightly under face value.

Each product names its brand, category, redemption guide and the shape of its codes; each SKU is
(sku code, name, face value, retail price, validity days after delivery, units of demo stock), plus how it is
delivered: its type and source, the sandbox supplier's product it maps to, auto-replenish settings, the use
limit of a shared code, or a bundle's components.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CodeFormat:
    """How this brand's codes look: `pattern` uses # for a digit and X for an unambiguous letter or digit."""

    pattern: str
    #: Pattern of the card password that comes with the code (None: the code alone redeems).
    secret: str | None = None
    #: Days from seeding until a code itself expires (None: the code does not expire).
    expires_in_days: int | None = None


@dataclass(frozen=True)
class DemoSku:
    sku: str
    name: str
    face: str
    price: str
    validity_days: int
    #: Codes (or links) put into stock; a shared SKU gets this many codes, each sold `max_uses` times.
    units: int
    type: str = "card_code"
    source: str = "stock"
    account_format: str | None = None
    #: The sandbox supplier's product id this SKU is mapped to, and what one unit costs us there.
    supplier_product: str | None = None
    cost: str | None = None
    #: Auto-replenish: (sellable units below which to buy, units to buy).
    replenish: tuple[int, int] | None = None
    max_uses: int = 1
    #: A bundle's parts: (sku code, units per bundle), SKUs listed before the bundle in PRODUCTS.
    components: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class DemoProduct:
    brand: str
    category: str
    name: str
    instructions: str
    #: None for products that are never stocked (top-ups, cards bought from the supplier, bundles).
    codes: CodeFormat | None
    skus: list[DemoSku] = field(default_factory=list)


def _guide(app: str, path: str, extra: str = "") -> str:
    return (f"<ol><li>打开{app}，进入{path}。</li>"
            "<li>输入兑换码（如有卡密一并输入），点击「立即兑换」。</li>"
            "<li>兑换成功后权益即时到账，可在账户中查看到期时间。</li></ol>"
            f"<p><strong>注意：</strong>兑换码仅可使用一次，请在有效期内兑换，兑换后不退不换。{extra}</p>")


def _topup_guide(account: str, extra: str = "") -> str:
    return ("<ol><li>在权益中心打开本权益，点击「充值」。</li>"
            f"<li>填写要充值的{account}，核对无误后提交。</li>"
            "<li>页面实时显示充值进度，通常 1 分钟内到账；充值失败将自动重试或原路退款。</li></ol>"
            f"<p><strong>注意：</strong>请仔细核对账号，充值成功后不退不换。{extra}</p>")


PRODUCTS: list[DemoProduct] = [
    DemoProduct("腾讯视频", "video", "腾讯视频 VIP 会员",
                _guide("腾讯视频App", "「我的」→「VIP会员」→「兑换VIP」", "会员可在手机、电脑、平板使用（电视端需超级影视VIP）。"),
                CodeFormat("XXXX-XXXX-XXXX-XXXX"),
                [DemoSku("TXSP-VIP-1M", "腾讯视频 VIP 月卡", "30.00", "27.80", 90, 300),
                 DemoSku("TXSP-VIP-3M", "腾讯视频 VIP 季卡", "88.00", "79.00", 180, 150),
                 DemoSku("TXSP-VIP-12M", "腾讯视频 VIP 年卡", "258.00", "229.00", 365, 80)]),
    DemoProduct("爱奇艺", "video", "爱奇艺 黄金 VIP 会员",
                _guide("爱奇艺App", "「我的」→「我的VIP」→「激活码兑换」"),
                CodeFormat("XXXXXXXXXXXXXXXX"),
                [DemoSku("IQIYI-GOLD-1M", "爱奇艺 黄金VIP 月卡", "30.00", "26.80", 90, 250),
                 DemoSku("IQIYI-GOLD-3M", "爱奇艺 黄金VIP 季卡", "78.00", "70.00", 180, 120),
                 DemoSku("IQIYI-GOLD-12M", "爱奇艺 黄金VIP 年卡", "248.00", "218.00", 365, 60)]),
    DemoProduct("优酷", "video", "优酷 VIP 会员",
                _guide("优酷App", "「我的」→「会员中心」→「兑换会员」"),
                CodeFormat("YK##############"),
                [DemoSku("YOUKU-VIP-1M", "优酷 VIP 月卡", "30.00", "25.50", 90, 200),
                 DemoSku("YOUKU-VIP-12M", "优酷 VIP 年卡", "228.00", "198.00", 365, 60)]),
    DemoProduct("芒果TV", "video", "芒果TV VIP 会员",
                _guide("芒果TV App", "「我的」→「会员中心」→「兑换码」"),
                CodeFormat("MG-XXXX-XXXX-XXXX"),
                [DemoSku("MGTV-VIP-1M", "芒果TV VIP 月卡", "25.00", "22.00", 90, 150),
                 DemoSku("MGTV-VIP-3M", "芒果TV VIP 季卡", "68.00", "61.00", 180, 80),
                 # Seeded below its replenish threshold: the first replenish run after `quanyi up` buys
                 # 50 cards from the sandbox supplier, so auto-replenishment shows in the ops console.
                 DemoSku("MGTV-VIP-12M", "芒果TV VIP 年卡", "218.00", "198.00", 365, 20,
                         supplier_product="card-mgtv-12m", cost="186.00", replenish=(30, 50))]),
    DemoProduct("哔哩哔哩", "video", "哔哩哔哩 大会员",
                _guide("哔哩哔哩App", "「我的」→「我的大会员」→「兑换中心」"),
                CodeFormat("XXXXXXXXXXXX"),
                [DemoSku("BILI-VIP-1M", "哔哩哔哩 大会员 月卡", "25.00", "22.80", 90, 200),
                 DemoSku("BILI-VIP-12M", "哔哩哔哩 大会员 年卡", "168.00", "148.00", 365, 80)]),
    DemoProduct("QQ音乐", "music", "QQ音乐 豪华绿钻",
                _guide("QQ音乐App", "「我的」→「会员中心」→「兑换码兑换」"),
                CodeFormat("QQM-XXXXXXXXXXXX"),
                [DemoSku("QQMUSIC-GREEN-1M", "QQ音乐 豪华绿钻 月卡", "18.00", "15.80", 90, 200),
                 DemoSku("QQMUSIC-GREEN-12M", "QQ音乐 豪华绿钻 年卡", "180.00", "158.00", 365, 60)]),
    DemoProduct("网易云音乐", "music", "网易云音乐 黑胶 VIP",
                _guide("网易云音乐App", "「我的」→「会员中心」→「兑换码」"),
                CodeFormat("XXXX-XXXX-XXXX"),
                [DemoSku("NCM-VIP-1M", "网易云音乐 黑胶VIP 月卡", "18.00", "15.50", 90, 200),
                 DemoSku("NCM-VIP-3M", "网易云音乐 黑胶VIP 季卡", "45.00", "41.00", 180, 100),
                 DemoSku("NCM-VIP-12M", "网易云音乐 黑胶VIP 年卡", "158.00", "138.00", 365, 60)]),
    DemoProduct("酷狗音乐", "music", "酷狗音乐 豪华 VIP",
                _guide("酷狗音乐App", "「我的」→「VIP中心」→「兑换VIP」"),
                CodeFormat("KG##########", secret="######"),
                [DemoSku("KUGOU-VIP-1M", "酷狗音乐 豪华VIP 月卡", "15.00", "13.20", 90, 150)]),
    DemoProduct("美团外卖", "food", "美团外卖 会员与礼品卡",
                _guide("美团App", "「我的」→「钱包」→「礼品卡」→「绑定新卡」", "外卖红包以到账页面显示的使用门槛为准。"),
                CodeFormat("MT################", secret="XXXXXXXX", expires_in_days=180),
                [DemoSku("MEITUAN-VIP-1M", "美团外卖 会员 月卡", "15.00", "12.90", 30, 150),
                 DemoSku("MEITUAN-GIFT-50", "美团 50元 礼品卡", "50.00", "47.50", 180, 100)]),
    DemoProduct("饿了么", "food", "饿了么 超级吃货卡",
                _guide("饿了么App", "「我的」→「超级吃货卡」→「兑换」"),
                CodeFormat("ELM-XXXX-XXXX-XXXX", expires_in_days=120),
                [DemoSku("ELEME-SUPER-1M", "饿了么 超级吃货卡 月卡", "15.00", "12.80", 30, 150),
                 DemoSku("ELEME-GIFT-50", "饿了么 50元 礼品卡", "50.00", "48.00", 180, 80)]),
    DemoProduct("瑞幸咖啡", "coffee", "瑞幸咖啡 饮品券",
                _guide("瑞幸咖啡App或小程序", "「我的」→「兑换中心」", "饮品券可兑换任意大杯饮品，不含配送费。"),
                CodeFormat("LK##########", expires_in_days=90),
                [DemoSku("LUCKIN-CUP-1", "瑞幸咖啡 任意大杯饮品券", "32.00", "28.80", 30, 200),
                 DemoSku("LUCKIN-CUP-5", "瑞幸咖啡 饮品券 5杯装", "160.00", "139.00", 60, 80)]),
    DemoProduct("星巴克", "coffee", "星巴克 电子礼品卡与饮品券",
                _guide("星巴克App", "「账户」→「星礼卡」→「添加星礼卡」", "星礼卡余额不可提现。"),
                CodeFormat("################", secret="########", expires_in_days=365),
                [DemoSku("SBUX-GIFT-100", "星巴克 100元 星礼卡", "100.00", "95.00", 365, 100),
                 DemoSku("SBUX-TALL-1", "星巴克 中杯饮品券", "38.00", "34.00", 30, 150)]),
    DemoProduct("王者荣耀", "game", "王者荣耀 点券",
                _guide("腾讯充值中心", "「游戏充值」→「王者荣耀」→「点卡充值」", "请确认游戏大区与角色后再兑换。"),
                CodeFormat("WZ############", secret="################"),
                [DemoSku("HOK-600", "王者荣耀 600点券", "60.00", "58.50", 365, 150),
                 DemoSku("HOK-1800", "王者荣耀 1800点券", "180.00", "175.00", 365, 80)]),
    DemoProduct("原神", "game", "原神 创世结晶",
                _guide("米哈游通行证页面", "「兑换码」→「原神」，选择服务器与角色"),
                CodeFormat("XXXXXXXXXXXX"),
                [DemoSku("GENSHIN-60", "原神 60 创世结晶", "6.00", "5.88", 365, 200),
                 DemoSku("GENSHIN-330", "原神 300+30 创世结晶", "30.00", "29.40", 365, 120),
                 DemoSku("GENSHIN-6480", "原神 6480+1600 创世结晶", "648.00", "628.00", 365, 30)]),
    DemoProduct("网易有道", "course", "网易有道 精品课与词典会员",
                _guide("网易有道词典App", "「我的」→「兑换中心」"),
                CodeFormat("YD-XXXXXXXXXX", expires_in_days=365),
                [DemoSku("YOUDAO-VIP-12M", "有道词典 VIP 年卡", "98.00", "88.00", 365, 80),
                 DemoSku("YOUDAO-CARD-100", "网易有道 精品课 100元 学习卡", "100.00", "92.00", 365, 60)]),
    DemoProduct("得到", "course", "得到 会员与学习卡",
                _guide("得到App", "「我的」→「兑换码」"),
                CodeFormat("DD############"),
                [DemoSku("DEDAO-VIP-12M", "得到 电子书 VIP 年卡", "198.00", "178.00", 365, 60),
                 DemoSku("DEDAO-CARD-100", "得到 100元 学习卡", "100.00", "93.00", 365, 60)]),

    # --- delivered by the sandbox supplier, links, shared codes and a joint membership ------------------
    DemoProduct("中国移动", "other", "中国移动 话费充值",
                _topup_guide("中国移动手机号", "携号转网的号码请勿充值。"), None,
                [DemoSku("CMCC-TOPUP-50", "中国移动 话费 50元", "50.00", "49.50", 90, 0, type="direct_topup",
                         source="supplier", account_format="mobile", supplier_product="topup-cmcc-50",
                         cost="49.00")]),
    DemoProduct("QQ音乐", "music", "QQ音乐 豪华绿钻 直充",
                _topup_guide("QQ号", "绿钻到账后可在QQ音乐「我的」→「会员中心」查看有效期。"), None,
                [DemoSku("QQMUSIC-TOPUP-1M", "QQ音乐 豪华绿钻 月卡直充", "18.00", "16.50", 90, 0,
                         type="direct_topup", source="supplier", account_format="qq",
                         supplier_product="topup-qqmusic-1m", cost="15.20")]),
    DemoProduct("王者荣耀", "game", "王者荣耀 点券直充",
                _topup_guide("游戏角色 ID", "角色 ID 可在游戏内「设置」→「基础设置」中复制，请确认大区。"), None,
                [DemoSku("HOK-TOPUP-60", "王者荣耀 600点券 直充", "60.00", "58.80", 90, 0, type="direct_topup",
                         source="supplier", account_format="game_id", supplier_product="topup-wzry-60",
                         cost="57.60")]),
    DemoProduct("爱奇艺", "video", "爱奇艺 白金 VIP 会员",
                _guide("爱奇艺App", "「我的」→「我的VIP」→「激活码兑换」", "白金VIP含电视端观看权益。"), None,
                [DemoSku("IQIYI-PLAT-1M", "爱奇艺 白金VIP 月卡", "50.00", "45.00", 90, 0, source="supplier",
                         supplier_product="card-iqiyi-platinum-1m", cost="42.00")]),
    DemoProduct("喜马拉雅", "music", "喜马拉雅 VIP 会员",
                "<ol><li>在权益中心打开本权益，点击兑换链接（或复制到手机浏览器打开）。</li>"
                "<li>登录要开通会员的喜马拉雅账号，点击「立即领取」。</li>"
                "<li>领取成功后可在喜马拉雅App「我的」→「会员中心」查看有效期。</li></ol>"
                "<p><strong>注意：</strong>每个链接仅可领取一次，请勿转发给他人。</p>",
                CodeFormat("https://m.ximalaya.com/vip/redeem?t=XXXXXXXXXXXXXXXXXXXX", expires_in_days=180),
                [DemoSku("XMLY-VIP-1M", "喜马拉雅 VIP 月卡 兑换链接", "25.00", "21.80", 90, 120, type="link")]),
    DemoProduct("瑞幸咖啡", "coffee", "瑞幸咖啡 9.9元 通兑券",
                "<ol><li>打开瑞幸咖啡App或小程序，进入「我的」→「兑换中心」。</li>"
                "<li>输入通兑码，一张 9.9 元饮品券即到账。</li>"
                "<li>下单时选择该券，可兑换 9.9 元专区任意一杯饮品。</li></ol>"
                "<p><strong>注意：</strong>这是品牌活动的共享通兑码，每个瑞幸账号限领一次，名额领完即止。</p>",
                CodeFormat("LKTD########", expires_in_days=60),
                [DemoSku("LUCKIN-99-SHARED", "瑞幸咖啡 9.9元 通兑券（共享码）", "9.90", "8.80", 30, 1,
                         source="shared", max_uses=500)]),
    DemoProduct("腾讯视频", "video", "腾讯视频 × QQ音乐 联合会员",
                "<ol><li>购买后，腾讯视频 VIP 月卡的兑换码即时发放到权益中心，在腾讯视频App「我的」→"
                "「VIP会员」→「兑换VIP」中输入即可。</li>"
                "<li>QQ音乐豪华绿钻为直充权益：在权益中心打开它，填写QQ号并提交，绿钻直接充到该账号。</li>"
                "<li>两项权益分别显示状态与有效期。</li></ol>"
                "<p><strong>注意：</strong>两项权益相互独立，可以分别兑换到不同的账号。</p>", None,
                [DemoSku("TXSP-QQMUSIC-1M", "腾讯视频 VIP 月卡 + QQ音乐绿钻 月卡 联合会员", "48.00", "39.90", 90, 0,
                         type="bundle", components=(("TXSP-VIP-1M", 1), ("QQMUSIC-TOPUP-1M", 1)))]),
]


def supplier_prices() -> str:
    """What the sandbox supplier charges for the demo's products ("card-mgtv-12m=186.00,…", its --prices): the
    costs the demo's mappings book, so the daily reconciliation of its bill agrees."""
    return ",".join(f"{item.supplier_product}={item.cost}" for demo in PRODUCTS for item in demo.skus
                    if item.supplier_product and item.cost)
