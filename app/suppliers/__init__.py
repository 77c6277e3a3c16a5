"""Upstream suppliers: adapters, credentials, per-SKU mappings and stock replenishment."""
