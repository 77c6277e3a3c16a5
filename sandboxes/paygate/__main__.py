import argparse
import logging
import os

from werkzeug.serving import make_server

from sandboxes.paygate.app import create_app


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m sandboxes.paygate", description="Sandbox payment gateway")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PAYGATE_PORT", "5001")))
    p.add_argument("--merchant", default=os.environ.get("PAYGATE_MERCHANT_ID", "quanyi"))
    p.add_argument("--key", default=os.environ.get("PAYGATE_KEY", "sandbox-merchant-key-change-me"))
    p.add_argument("--notify-delay", type=float, default=0.0, help="seconds before the first notification")
    p.add_argument("--duplicate-notify", action="store_true", help="send every notification twice at once")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="paygate %(levelname)s %(message)s")
    app = create_app({args.merchant: args.key}, notify_delay=args.notify_delay,
                     duplicate_notify=args.duplicate_notify)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"sandbox payment gateway on http://{args.host}:{server.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
