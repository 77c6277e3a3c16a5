"""Membership and loyalty (issue 18): member levels and growth value, points and the points mall, stored-value
and gift cards (the wallet itself is a payment method, in app/payments/wallet.py), auto-renewing
subscriptions, and consumer referral. It sits above marketing (a level's monthly coupon gift is a marketing
coupon) and lends its facts to marketing's segments through the rule registry there."""
