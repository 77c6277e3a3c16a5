"""Callbacks to resellers: a real HTTP endpoint that records what it is sent, and wholesale orders that ask
for callbacks (in the caller's app context)."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sqlalchemy as sa

from app.channels import wholesale
from app.channels.models import CallbackEvent
from app.extensions import db
from app.orders.models import Order
from tests.support.channels import reseller_of


class Receiver:
    """A reseller's callback endpoint: records every request, answers `status` after `delay` seconds."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status, self.delay, self.extra_headers = 200, 0.0, {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                receiver.requests.append({"method": self.command, "path": path, "query": query,
                                          "headers": self.headers, "body": body})
                time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    for k, v in receiver.extra_headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the caller gave up (timeout)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def event_of(order_id: int, type_: str | None = None) -> CallbackEvent | None:
    """The order's callback event (of that type), read afresh."""
    stmt = sa.select(CallbackEvent).where(CallbackEvent.order_id == order_id)
    if type_:
        stmt = stmt.where(CallbackEvent.type == type_)
    return db.session.scalars(stmt.execution_options(populate_existing=True)).first()


def place(info, sku: str, no: str = "C-1", notify_url: str | None = None) -> Order:
    order, _ = wholesale.place(reseller_of(info), None, sku=sku, quantity=1, client_order_no=no,
                               notify_url=notify_url)
    return order
