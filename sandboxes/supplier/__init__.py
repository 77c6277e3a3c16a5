"""Sandbox upstream supplier: a separate process speaking docs/supplier-protocol.md over real HTTP.

Run: `python -m sandboxes.supplier --port 5002 --partner quanyi --key K [fault flags]`. Card codes, direct
top-ups and links by product-id prefix, signed requests, responses and callbacks, and fault injection set at
start (flags) or at run time (`POST /_sandbox/faults`). `GET /_sandbox/topups` is its record of every
top-up it performed, to check "each account topped up exactly once" against.
"""
