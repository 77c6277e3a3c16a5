"""Consumer referral (推广员, 分销): promoters and their share links and posters (promoters.py, poster.py), clicks
and the attribution of an order to the last link clicked (attribution.py), per-SKU commission rates and the
commission's life (commissions.py), withdrawals finance approves (withdrawals.py), and where the money sits
(money.py). docs/loyalty-referral.md tells the whole of it."""
