"""Sandbox payment gateway: a separate process speaking the gateway protocol over real HTTP.

Run: `python -m sandboxes.paygate --port 5001 --key K`. Checkout page (pay / cancel), signed asynchronous
notifications with retries, return URL, query and refund APIs. Fault injection for tests: `--duplicate-notify`
sends every notification twice at once, `--notify-delay S` holds notifications back, and
`POST /_sandbox/renotify/<trade_no>` replays one on demand. Withholding agreements (代扣协议: sign page,
signed notices, charges, unsign, failing charges on demand) are in agreements.py.
"""
