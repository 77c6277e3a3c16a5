"""One benchmark buyer: a consumer driving the real web flow over HTTP, as a browser without JavaScript would.

Log in, then buy one unit at a time (POST the SKU page's form), pay on the sandbox gateway's checkout page,
come back and poll the order page until it is delivered; repeat until the shop refuses (sold out).
"""

import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PAY_FORM = re.compile(r'<form method="post" action="([^"]*/pay)"')
STATUS = re.compile(r'data-status="(\w+)"')
#: Order statuses after which the buyer stops polling.
FINAL = {"delivered", "cancelled", "expired", "refunded"}


@dataclass
class Outcome:
    """What one buyer saw; latencies in seconds."""

    paid: list[str] = field(default_factory=list)
    refused: int = 0
    checkout_s: list[float] = field(default_factory=list)
    end_to_end_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)


def _csrf(resp: httpx.Response) -> str:
    m = CSRF.search(resp.text)
    if not m:
        raise RuntimeError(f"no csrf_token on {resp.url} (HTTP {resp.status_code})")
    return m.group(1)


def _expect(resp: httpx.Response, status: int, what: str) -> httpx.Response:
    if resp.status_code != status:
        raise RuntimeError(f"{what}: HTTP {resp.status_code} at {resp.url}")
    return resp


class Buyer:
    def __init__(self, base_url: str, email: str, password: str, sku_id: int, deadline: float):
        self.base_url, self.email, self.password = base_url, email, password
        self.sku_id, self.deadline = sku_id, deadline
        self.out = Outcome()
        self.step = "start"

    def run(self, start: threading.Barrier) -> Outcome:
        # No keep-alive: gunicorn closes idle connections after 2 s, and a request sent on one just as it
        # closes is reset (a browser would resend it; httpx does not).
        with httpx.Client(base_url=self.base_url, timeout=30,
                          limits=httpx.Limits(max_keepalive_connections=0)) as client:
            try:
                token = self._log_in(client)
                start.wait(timeout=max(1.0, self.deadline - time.time()))
                while time.time() < self.deadline:
                    if not self._buy_once(client, token):
                        break
            except threading.BrokenBarrierError:
                self.out.errors.append("the start barrier broke (another buyer failed to log in)")
            except Exception as e:  # one buyer's failure is a figure of the report, not the end of the run
                self.out.errors.append(f"{self.step}: {e.__class__.__name__}: {e}")
                start.abort()
        return self.out

    def _log_in(self, client: httpx.Client) -> str:
        self.step = "log in"
        token = _csrf(_expect(client.get("/login"), 200, "login page"))
        resp = client.post("/login", data={"csrf_token": token, "email": self.email, "password": self.password})
        _expect(resp, 303, "log in")
        sku_page = _expect(client.get(f"/me/shop/{self.sku_id}"), 200, "SKU page")
        return _csrf(sku_page)

    def _buy_once(self, client: httpx.Client, token: str) -> bool:
        """One purchase; False once the shop refuses it."""
        self.step = "buy"
        t0 = time.perf_counter()
        resp = client.post(f"/me/shop/{self.sku_id}/buy", data={"csrf_token": token, "quantity": "1"})
        self.out.checkout_s.append(time.perf_counter() - t0)
        _expect(resp, 303, "buy")
        location = urlsplit(resp.headers["location"]).path
        if location == f"/me/shop/{self.sku_id}":
            self.out.refused += 1  # sold out: the order was refused and nothing is held
            return False
        m = re.fullmatch(r"/me/orders/([^/]+)/pay", location)
        if not m:
            raise RuntimeError(f"buy redirected to an unexpected place: {location}")
        order_no = m.group(1)
        self.step = "gateway checkout page"
        checkout = client.get(location, follow_redirects=True)
        _expect(checkout, 200, "gateway checkout page")
        action = PAY_FORM.search(checkout.text)
        if not action:
            raise RuntimeError(f"no pay form on the gateway page {checkout.url}")
        self.step = "pay and return"
        back = client.post(urljoin(str(checkout.url), action.group(1)), follow_redirects=True)
        _expect(back, 200, "return from the gateway")
        status = self._status(back)
        self.step = "poll the order page"
        while status not in FINAL and time.time() < self.deadline:
            time.sleep(0.05)
            status = self._status(_expect(client.get(f"/me/orders/{order_no}"), 200, "order page"))
        if status == "delivered":
            self.out.paid.append(order_no)
            self.out.end_to_end_s.append(time.perf_counter() - t0)
        else:
            self.out.unfinished.append(f"{order_no}:{status}")
        return True

    @staticmethod
    def _status(resp: httpx.Response) -> str:
        m = STATUS.search(resp.text)
        if not m:
            raise RuntimeError(f"no order status on {resp.url}")
        return m.group(1)


def race(base_url: str, buyers: list[tuple[str, str]], sku_id: int, timeout: float,
         on_start=lambda: None) -> tuple[list[Outcome], float]:
    """Run every buyer in its own thread, all starting together once logged in; returns outcomes and the
    wall time from that start. `on_start` is called at the start (to take measurements)."""
    deadline = time.time() + timeout
    start = threading.Barrier(len(buyers) + 1)
    runners = [Buyer(base_url, email, password, sku_id, deadline) for email, password in buyers]
    threads = [threading.Thread(target=b.run, args=(start,), daemon=True) for b in runners]
    for t in threads:
        t.start()
    try:
        start.wait(timeout=timeout)
    except threading.BrokenBarrierError:
        pass
    on_start()
    t0 = time.perf_counter()
    for t in threads:
        t.join(max(0.1, deadline - time.time() + 35))
    return [b.out for b in runners], time.perf_counter() - t0


# --- the embedded mode: a pool of driver threads serving buyers in turn, one purchase each ----------------

@dataclass
class Visit:
    """One buyer's single purchase, as the driver saw it."""

    email: str
    order_no: str = ""
    status: str = ""  # the order's last status seen, "refused" (sold out) or "" (never got that far)
    purchase_s: float | None = None  # from the buy POST to the order page showing delivered
    error: str = ""


class Counter:
    """Requests the driver sent, by server (app or gateway): httpx calls the hook once per request sent,
    redirects included."""

    def __init__(self, app_netloc: str):
        self.app_netloc, self.lock = app_netloc, threading.Lock()
        self.app = self.other = 0

    def __call__(self, request: httpx.Request) -> None:
        with self.lock:
            if request.url.netloc.decode() == self.app_netloc:
                self.app += 1
            else:
                self.other += 1


def _client(base_url: str, counter: Counter | None = None) -> httpx.Client:
    # No keep-alive, as in Buyer.run: a request sent on a connection gunicorn is closing would be reset.
    return httpx.Client(base_url=base_url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0),
                        event_hooks={"request": [counter]} if counter else None)


def _pool(threads: int, items: list, work) -> None:
    """`threads` threads take the items in turn, calling work(client_index, item)."""
    it = iter(items)
    lock = threading.Lock()

    def loop(i: int) -> None:
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                return
            work(i, item)

    pool = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def log_in_all(base_url: str, buyers: list[tuple[str, str]], sku_id: int, threads: int) -> tuple[dict, list[str]]:
    """Log every buyer in (GET /login, POST /login, GET the SKU page) on `threads` threads: per email, its
    cookies and the SKU page's csrf token; and the errors."""
    sessions: dict[str, tuple[httpx.Cookies, str]] = {}
    errors: list[str] = []
    lock = threading.Lock()
    clients = [_client(base_url) for _ in range(threads)]

    def work(i: int, buyer: tuple[str, str]) -> None:
        client = clients[i]
        client.cookies = httpx.Cookies()
        b = Buyer(base_url, buyer[0], buyer[1], sku_id, deadline=0)
        try:
            token = b._log_in(client)
        except Exception as e:
            with lock:
                errors.append(f"{buyer[0]}: {b.step}: {e.__class__.__name__}: {e}")
            return
        with lock:
            sessions[buyer[0]] = (httpx.Cookies(client.cookies), token)

    try:
        _pool(threads, buyers, work)
    finally:
        for c in clients:
            c.close()
    return sessions, errors


def purchase_all(base_url: str, sessions: dict, sku_id: int, threads: int, timeout: float,
                 counter: Counter) -> list[Visit]:
    """Each logged-in buyer buys exactly one unit: POST the SKU page's form; unless refused (sold out), pay
    on the gateway's page, come back and poll the order page every 50 ms until the order is final. The
    `threads` driver threads serve the buyers in turn."""
    deadline = time.time() + timeout
    clients = [_client(base_url, counter) for _ in range(threads)]
    visits: list[Visit] = []
    lock = threading.Lock()

    def work(i: int, email: str) -> None:
        client = clients[i]
        client.cookies = httpx.Cookies(sessions[email][0])
        visit = Visit(email)
        b = Buyer(base_url, email, "", sku_id, deadline)
        try:
            if time.time() > deadline:
                raise TimeoutError("the run's deadline passed before this buyer's turn")
            _purchase(b, client, sessions[email][1], visit)
        except Exception as e:  # one buyer's failure is a figure of the report, not the end of the run
            visit.error = f"{b.step}: {e.__class__.__name__}: {e}"
        with lock:
            visits.append(visit)

    try:
        _pool(threads, list(sessions), work)
    finally:
        for c in clients:
            c.close()
    return visits


def _purchase(b: Buyer, client: httpx.Client, token: str, visit: Visit) -> None:
    bought = b._buy_once(client, token)
    if not bought:
        visit.status = "refused"
        return
    if b.out.paid:
        visit.order_no, visit.status, visit.purchase_s = b.out.paid[-1], "delivered", b.out.end_to_end_s[-1]
    else:
        visit.order_no, _, visit.status = b.out.unfinished[-1].rpartition(":")
