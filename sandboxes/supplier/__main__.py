"""Run the sandbox supplier: `python -m sandboxes.supplier --port 5002 --partner quanyi --key K`.

Every fault can be set here and changed later by `POST /_sandbox/faults` (see sandboxes/supplier/faults.py).
"""
import argparse
import logging
import os

from werkzeug.serving import make_server

from sandboxes.supplier.app import create_app, to_fen
from sandboxes.supplier.faults import RATES, FaultError, Faults


def _prices(text: str) -> dict[str, int]:
    out = {}
    for pair in filter(None, text.split(",")):
        product, _, price = pair.partition("=")
        out[product.strip()] = to_fen(price)
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m sandboxes.supplier", description="Sandbox upstream supplier")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("SUPPLIER_PORT", "5002")))
    p.add_argument("--partner", default=os.environ.get("SUPPLIER_PARTNER", "quanyi"))
    p.add_argument("--key", default=os.environ.get("SUPPLIER_KEY", "sandbox-supplier-key-change-me"))
    p.add_argument("--prices", type=_prices, default={}, metavar="ID=YUAN,ID=YUAN",
                   help="unit prices the daily bill charges, e.g. card-tencent-month=18.50")
    p.add_argument("--default-price", default="0", metavar="YUAN", help="price of any product not listed")
    f = p.add_argument_group("faults")
    f.add_argument("--latency-ms", type=float, help="sleep before handling every /v1 request")
    for rate in RATES:
        f.add_argument("--" + rate.replace("_", "-"), type=float, metavar="0..1")
    f.add_argument("--timeout-seconds", type=float, help="how long a timed-out answer is held (default 30)")
    f.add_argument("--callback-delay-ms", type=float, help="PROCESSING → final after this (default 200)")
    f.add_argument("--duplicate-callbacks", action="store_true", default=None, help="send each callback twice")
    f.add_argument("--out-of-order-callbacks", action="store_true", default=None,
                   help="after the final callback, send a stale PROCESSING one")
    f.add_argument("--out-of-stock", type=lambda s: [x for x in s.split(",") if x], metavar="ID,ID",
                   help="product ids answering OUT_OF_STOCK")
    f.add_argument("--seed", type=int, help="seed the fault draws for reproducible runs")
    args = p.parse_args()
    given = {name: value for name, value in vars(args).items()
             if name not in ("host", "port", "partner", "key", "prices", "default_price") and value is not None}
    try:
        faults = Faults(**given)
    except FaultError as e:
        p.error(str(e))
    logging.basicConfig(level=logging.INFO, format="supplier %(levelname)s %(message)s")
    try:
        default_price = to_fen(args.default_price)
    except ValueError as e:
        p.error(str(e))
    app = create_app({args.partner: args.key}, faults=faults, prices=args.prices, default_price_fen=default_price)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"sandbox supplier on http://{args.host}:{server.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
