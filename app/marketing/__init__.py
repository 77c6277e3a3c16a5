"""Marketing on the retail channel: campaigns grouping coupons, flash sales, group buys and offers, aimed at
segments. It sits above orders, payments and fulfilment (README, "Code map"): it prices a retail order through
`orders.signals.pricing` and takes back what an unpaid order held through `orders.signals.order_closed`.
Reseller and enterprise prices never pass through it."""
