import argparse
import logging
import os

from aiosmtpd.controller import Controller
from werkzeug.serving import make_server

from sandboxes.mailbox.app import create_app
from sandboxes.mailbox.store import Handler, Store


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m sandboxes.mailbox", description="Sandbox mailbox (SMTP + web)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("MAILBOX_PORT", "5003")), help="web page")
    p.add_argument("--smtp-port", type=int, default=int(os.environ.get("MAILBOX_SMTP_PORT", "2525")))
    p.add_argument("--keep", type=int, default=int(os.environ.get("MAILBOX_KEEP", "500")),
                   help="messages kept in memory (the oldest go first)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="mailbox %(levelname)s %(message)s")
    store = Store(args.keep)
    smtp = Controller(Handler(store), hostname=args.host, port=args.smtp_port)
    smtp.start()
    server = make_server(args.host, args.port, create_app(store), threaded=True)
    print(f"sandbox mailbox: SMTP on {args.host}:{args.smtp_port}, web on http://{args.host}:{server.port}",
          flush=True)
    try:
        server.serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
