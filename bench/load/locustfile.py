"""Locust users against the seeded "pages at scale" dataset (bench/seed_scale.py); run by bench/load/run.py.

    SCALE_LOGINS=bench/results/scale-logins.json locust -f bench/load/locustfile.py --headless ...

Five kinds of user, each signing in once as a person would (the login form, and for staff the second step
with a TOTP code from the known secret the seed enrolled; one staff login per concurrent staff user, as a
code is accepted only once):

- Consumer (weight 2 of the users the fixed counts leave): the benefit center, the order list and its next
  page, an order, a benefit, the shop and a product page; now and then a purchase: the product page's form,
  the payment on the sandbox gateway's checkout page, back to the order page. Every second one is the
  consumer with thousands of orders (browsing only), the others ordinary consumers, one login each.
- ResellerApi (weight 1 of them): signed API calls (app/channels/signing.py): order search by
  client_order_no, one order, its codes (decrypted), the balance, the products, and new one-code orders.
- Ops (a twelfth of LOAD_USERS, at least one): dashboard, SKUs with their stock, the reseller list, a
  reseller's page with its orders.
- Finance (as many as Ops): trial balance (finance home), the journal and its next page, the accounts.
- ResellerConsole (as many as Ops): the reseller console's order list and its next page.

The staff and console users have fixed counts (from LOAD_USERS, the `-u` run.py passes) so that even a run
with a handful of users has one of each.

Every request is named by its page (the `name` the report groups by), not by its URL. Each user first
visits every page of its kind once (`tour`), so even a short run with one user of each kind has a figure
for every page; then it picks tasks by their weights.
"""

import html
import itertools
import json
import os
import random
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pyotp
from locust import HttpUser, between, task
from locust.exception import StopUser

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.channels import signing  # noqa: E402

LOGINS = json.loads(Path(os.environ.get("SCALE_LOGINS", ROOT / "bench" / "results" / "scale-logins.json"))
                    .read_text())
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
NEXT = re.compile(r'class="pagination-next" href="([^"]+)"|hx-get="([^"]+)" hx-select=')
ORDER_LINK = re.compile(r'href="(/me/orders/[A-Z]\d+)"')
BENEFIT_LINK = re.compile(r'href="(/me/benefits/\d+)"')
PAY_FORM = re.compile(r'<form method="post" action="([^"]*/pay)"')
_staff = {role: itertools.count() for role in ("ops", "finance")}
_consumers = itertools.count()
_staff_lock = threading.Lock()
#: Users of each fixed-count kind (ops, finance, reseller console).
FIXED = max(1, round(int(os.environ.get("LOAD_USERS", "50")) / 12))


def csrf(resp) -> str:
    m = CSRF.search(resp.text)
    if not m:
        raise StopUser(f"no csrf_token on {resp.url} (HTTP {resp.status_code})")
    return m.group(1)


def next_page(resp) -> str | None:
    m = NEXT.search(resp.text or "")
    return html.unescape(m.group(1) or m.group(2)) if m else None


def tour(user) -> None:
    """Run each task of the user's class once, in the order they are written."""
    for member in vars(type(user)).values():
        if callable(member) and hasattr(member, "locust_task_weight"):
            member(user)


class WebUser(HttpUser):
    abstract = True
    wait_time = between(0.5, 2)

    def sign_in(self, email: str, totp: str | None = None) -> None:
        login = self.client.get("/login", name="login page")
        resp = self.client.post("/login", data={"csrf_token": csrf(login), "email": email,
                                                "password": LOGINS["password"]},
                                allow_redirects=False, name="login")
        if resp.status_code != 303:
            raise StopUser(f"login of {email}: HTTP {resp.status_code}")
        step = urlsplit(resp.headers.get("Location", "")).path
        if step.startswith("/mfa/verify"):
            page = self.client.get(step, name="mfa page")
            # A code is accepted once per login (this login's own), within a step of the server's clock: on a
            # saturated server the POST can wait past that, so a refused code is typed again, as a person would.
            for _ in range(3):
                done = self.client.post(step, data={"csrf_token": csrf(page), "code": pyotp.TOTP(totp).now()},
                                        allow_redirects=False, name="mfa verify")
                if done.status_code == 303:
                    return
                page = done
                time.sleep(1)
            raise StopUser(f"second step of {email}: HTTP {done.status_code}")

    def get_page(self, url: str, name: str, follow_next: bool = False):
        with self.client.get(url, name=name, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
                return resp
        if follow_next and (nxt := next_page(resp)):
            self.client.get(nxt, name=f"{name} (next page)")
        return resp


class Consumer(WebUser):
    weight = 2

    def on_start(self):
        # Every second consumer session is the consumer with thousands of orders, who only browses (all of
        # them at once would soon hold too many unpaid orders); the others are ordinary ones of their own.
        with _staff_lock:
            i = next(_consumers)
        self.heavy = i % 2 == 1
        sample = LOGINS["consumer_sample"]
        self.email = LOGINS["consumer"] if self.heavy else sample[i // 2 % len(sample)]
        self.sign_in(self.email)
        self.sku_ids = LOGINS["sku_ids"]
        tour(self)

    @task(4)
    def benefit_center(self):
        resp = self.get_page("/me/", "consumer benefit center", follow_next=True)
        links = BENEFIT_LINK.findall(resp.text or "")
        if links:
            self.get_page(random.choice(links), "consumer benefit")

    @task(4)
    def orders(self):
        resp = self.get_page("/me/orders", "consumer orders", follow_next=True)
        links = ORDER_LINK.findall(resp.text or "")
        if links:
            self.get_page(random.choice(links), "consumer order")

    @task(2)
    def browse(self):
        self.get_page("/me/shop", "consumer shop")
        self.get_page(f"/me/shop/{random.choice(self.sku_ids)}", "consumer product page")

    @task(1)
    def buy(self):
        if self.heavy:
            return self.browse()
        sku_id = random.choice(self.sku_ids)
        page = self.get_page(f"/me/shop/{sku_id}", "consumer product page")
        if page.status_code != 200:
            return
        with self.client.post(f"/me/shop/{sku_id}/buy", data={"csrf_token": csrf(page), "quantity": "1"},
                              allow_redirects=False, name="consumer checkout (buy)", catch_response=True) as resp:
            location = urlsplit(resp.headers.get("Location", "")).path
            m = re.fullmatch(r"/me/orders/([^/]+)/pay", location)
            if resp.status_code != 303 or not m:
                resp.failure(f"HTTP {resp.status_code}, to {location!r}")
                return
        order_no = m.group(1)
        with self.client.get(location, name="consumer pay (to the gateway)", catch_response=True) as checkout:
            action = PAY_FORM.search(checkout.text or "")
            if checkout.status_code != 200 or not action:
                checkout.failure(f"HTTP {checkout.status_code}, no pay form on the gateway page")
                return
        # The gateway's own page and its POST are not ours: not part of the report.
        back = self.client.request("POST", urljoin(checkout.url, action.group(1)), name="(gateway) pay")
        if back.status_code == 200:
            self.get_page(f"/me/orders/{order_no}", "consumer order")


class Staff(WebUser):
    abstract = True
    role = ""

    def on_start(self):
        with _staff_lock:
            i = next(_staff[self.role])
        logins = LOGINS["staff"][self.role]
        if i >= len(logins):
            raise StopUser(f"more concurrent {self.role} users than the {len(logins)} seeded logins")
        self.sign_in(logins[i], LOGINS["totp_secret"])
        tour(self)


class Ops(Staff):
    fixed_count = FIXED
    role = "ops"

    @task(2)
    def dashboard(self):
        self.get_page("/ops/", "ops dashboard")

    @task(3)
    def stock(self):
        self.get_page("/ops/skus", "ops stock overview (SKUs)")

    @task(2)
    def resellers(self):
        self.get_page("/ops/resellers", "ops resellers", follow_next=True)

    @task(3)
    def reseller_orders(self):
        rid = random.choice(LOGINS["api_keys"])["reseller_id"]
        self.get_page(f"/ops/resellers/{rid}", "ops reseller (its orders)", follow_next=True)


class Finance(Staff):
    fixed_count = FIXED
    role = "finance"

    @task(3)
    def trial_balance(self):
        self.get_page("/finance/", "finance trial balance")

    @task(3)
    def journal(self):
        self.get_page("/finance/journal", "finance journal", follow_next=True)

    @task(1)
    def accounts(self):
        self.get_page("/finance/accounts", "finance accounts")


class ResellerApi(HttpUser):
    weight = 1
    wait_time = between(0.2, 1)

    def on_start(self):
        self.key = random.choice(LOGINS["api_keys"])
        self.sku = random.choice(LOGINS["skus"])
        tour(self)

    def signed(self, method: str, path: str, name: str, query: str = "", payload: dict | None = None,
               ok=(200,)):
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = signing.headers(self.key["api_key"], self.key["secret"], method, path, query, body,
                                  int(time.time()), secrets.token_hex(12))
        if body:
            headers["Content-Type"] = "application/json"
        url = f"{path}?{query}" if query else path
        with self.client.request(method, url, data=body or None, headers=headers, name=name,
                                 catch_response=True) as resp:
            if resp.status_code not in ok:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
        return resp

    @task(5)
    def search(self):
        client_order_no, _ = random.choice(self.key["orders"])
        resp = self.signed("GET", "/api/v1/orders", "api order search (client_order_no)",
                           query=f"client_order_no={client_order_no}")
        if resp.status_code == 200 and not resp.json().get("items"):
            resp.failure(f"{client_order_no} not found")

    @task(3)
    def order(self):
        _, order_no = random.choice(self.key["orders"])
        self.signed("GET", f"/api/v1/orders/{order_no}", "api order")

    @task(1)
    def codes(self):
        _, order_no = random.choice(self.key["orders"])
        self.signed("GET", f"/api/v1/orders/{order_no}/codes", "api order codes")

    @task(1)
    def balance(self):
        self.signed("GET", "/api/v1/balance", "api balance")

    @task(1)
    def products(self):
        self.signed("GET", "/api/v1/products", "api products")

    @task(2)
    def place(self):
        self.signed("POST", "/api/v1/orders", "api create order",
                    payload={"client_order_no": f"LOAD-{secrets.token_hex(8)}", "sku": self.sku, "quantity": 1},
                    ok=(201,))


class ResellerConsole(WebUser):
    fixed_count = FIXED

    def on_start(self):
        self.sign_in(LOGINS["reseller_user"])
        tour(self)

    @task
    def orders(self):
        self.get_page("/reseller/orders", "reseller console orders", follow_next=True)
