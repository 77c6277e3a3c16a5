"""Loyalty's tables, one module per feature; importing this package registers them all."""
