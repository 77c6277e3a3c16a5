"""The reseller channel: tiers and prices, ring-fenced pools, prepaid balances, wholesale orders and their
bulk issuance, API credentials, signed callbacks, sub-agents and their commissions."""
