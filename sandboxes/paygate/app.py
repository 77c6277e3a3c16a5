"""The sandbox gateway's HTTP side. State lives in memory: it is a sandbox, restarted with its tests."""

import csv
import hashlib
import hmac
import io
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from flask import Flask, abort, jsonify, redirect, render_template, request

from sandboxes.paygate import agreements

log = logging.getLogger("paygate")

#: The gateway's business day is the Beijing-time day, as with every Chinese gateway.
ZONE = ZoneInfo("Asia/Shanghai")
#: The sandbox's fee on a payment, in basis points (0.6%); refunds carry no fee.
FEE_BP = 60
STATEMENT_COLUMNS = ("trade_no", "out_trade_no", "out_refund_no", "type", "amount", "fee", "settled_at")


def _sign(fields: dict, key: str) -> str:
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign" and fields[k] not in ("", None))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


@dataclass
class Trade:
    trade_no: str
    merchant_id: str
    out_trade_no: str
    amount: str
    currency: str
    subject: str
    notify_url: str
    return_url: str
    status: str = "WAIT_PAY"  # WAIT_PAY → SUCCESS | CLOSED; SUCCESS → REFUNDED
    paid_at: int | None = None
    notify_id: str = field(default_factory=lambda: "N" + secrets.token_hex(10))
    notifications_sent: int = 0
    refunds: dict = field(default_factory=dict)


def create_app(merchants: dict[str, str], notify_delay: float = 0.0, duplicate_notify: bool = False,
               retry_schedule: tuple[float, ...] = (0, 2, 5, 15, 30, 60)) -> Flask:
    app = Flask(__name__, template_folder="templates")
    trades: dict[str, Trade] = {}
    by_out: dict[tuple[str, str], str] = {}
    lock = threading.Lock()
    http = httpx.Client(timeout=10)

    def key_for(merchant_id: str) -> str:
        key = merchants.get(merchant_id)
        if key is None:
            abort(400, "unknown merchant")
        return key

    def verified(fields: dict) -> str:
        key = key_for(fields.get("merchant_id", ""))
        if not hmac.compare_digest(_sign(fields, key), fields.get("sign", "")):
            abort(400, "bad signature")
        return key

    def signed(fields: dict, key: str) -> dict:
        fields = {k: str(v) for k, v in fields.items() if v is not None}
        fields["timestamp"] = str(int(time.time()))
        fields["sign"] = _sign(fields, key)
        return fields

    def notice(trade: Trade) -> dict:
        return signed({"notify_id": trade.notify_id, "merchant_id": trade.merchant_id,
                       "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no, "amount": trade.amount,
                       "currency": trade.currency, "trade_status": trade.status,
                       "paid_at": trade.paid_at}, merchants[trade.merchant_id])

    def send_notice(trade: Trade) -> None:
        """Retry until the merchant answers `success` (a thread of the sandbox, not of the app)."""
        time.sleep(notify_delay)
        for wait in retry_schedule:
            time.sleep(wait)
            try:
                resp = http.post(trade.notify_url, data=notice(trade))
                trade.notifications_sent += 1
                if resp.status_code == 200 and resp.text.strip() == "success":
                    return
            except httpx.HTTPError as e:
                log.info("notify %s failed: %s", trade.trade_no, e)

    def notify_async(trade: Trade) -> None:
        copies = 2 if duplicate_notify else 1
        for _ in range(copies):
            threading.Thread(target=send_notice, args=(trade,), daemon=True).start()

    @app.get("/checkout")
    def checkout():
        fields = request.args.to_dict()
        verified(fields)
        for name in ("out_trade_no", "amount", "currency", "notify_url", "return_url"):
            if not fields.get(name):
                abort(400, f"missing {name}")
        with lock:
            existing = by_out.get((fields["merchant_id"], fields["out_trade_no"]))
            if existing:
                trade = trades[existing]
                if trade.amount != fields["amount"]:
                    abort(400, "out_trade_no reused with another amount")
            else:
                trade = Trade(trade_no="T" + secrets.token_hex(8), merchant_id=fields["merchant_id"],
                              out_trade_no=fields["out_trade_no"], amount=fields["amount"],
                              currency=fields["currency"], subject=fields.get("subject", ""),
                              notify_url=fields["notify_url"], return_url=fields["return_url"])
                trades[trade.trade_no] = trade
                by_out[(trade.merchant_id, trade.out_trade_no)] = trade.trade_no
        return render_template("checkout.html", trade=trade)

    def finish(trade_no: str, status: str):
        with lock:
            trade = trades.get(trade_no) or abort(404)
            if trade.status == "WAIT_PAY":
                trade.status = status
                trade.paid_at = int(time.time()) if status == "SUCCESS" else None
                changed = True
            else:
                changed = False
        if changed and status == "SUCCESS":
            notify_async(trade)
        back = signed({"out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
                       "trade_status": trade.status}, merchants[trade.merchant_id])
        sep = "&" if "?" in trade.return_url else "?"
        return redirect(f"{trade.return_url}{sep}{urlencode(back)}", 303)

    @app.post("/checkout/<trade_no>/pay")
    def pay(trade_no):
        return finish(trade_no, "SUCCESS")

    @app.post("/checkout/<trade_no>/cancel")
    def cancel(trade_no):
        return finish(trade_no, "CLOSED")

    def trade_of(fields: dict) -> Trade:
        trade_no = by_out.get((fields["merchant_id"], fields.get("out_trade_no", "")))
        if trade_no is None:
            return None
        return trades[trade_no]

    @app.post("/api/query")
    def query():
        fields = request.form.to_dict()
        key = verified(fields)
        trade = trade_of(fields)
        if trade is None:
            return jsonify(signed({"out_trade_no": fields.get("out_trade_no"), "trade_status": "NOT_FOUND"}, key))
        return jsonify(signed({"out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
                               "trade_status": trade.status, "amount": trade.amount,
                               "currency": trade.currency, "paid_at": trade.paid_at}, key))

    @app.post("/api/refund")
    def refund():
        fields = request.form.to_dict()
        key = verified(fields)
        with lock:
            trade = trade_of(fields)
            if trade is None or trade.status not in ("SUCCESS", "REFUNDED"):
                return jsonify(signed({"error": "TRADE_NOT_REFUNDABLE"}, key)), 409
            out_refund_no = fields.get("out_refund_no", "")
            existing = trade.refunds.get(out_refund_no)
            if existing is None:
                # Partial refunds: several out_refund_no, together never more than was paid.
                try:
                    amount = Decimal(fields.get("amount", ""))
                except InvalidOperation:
                    amount = Decimal(-1)
                refunded = sum((r["amount"] for r in trade.refunds.values()), Decimal(0))
                if not out_refund_no or amount <= 0 or refunded + amount > Decimal(trade.amount):
                    return jsonify(signed({"error": "AMOUNT_MISMATCH"}, key)), 409
                existing = trade.refunds[out_refund_no] = {"refund_no": "RF" + secrets.token_hex(6),
                                                           "amount": amount, "at": int(time.time())}
                if refunded + amount == Decimal(trade.amount):
                    trade.status = "REFUNDED"
            elif str(existing["amount"]) != fields.get("amount"):
                return jsonify(signed({"error": "AMOUNT_MISMATCH"}, key)), 409
        return jsonify(signed({"out_refund_no": out_refund_no, "refund_no": existing["refund_no"],
                               "refund_status": "SUCCESS", "amount": str(existing["amount"])}, key))

    @app.get("/_sandbox/trades")
    def list_trades():
        return jsonify([{"trade_no": t.trade_no, "out_trade_no": t.out_trade_no, "amount": t.amount,
                         "status": t.status, "notifications_sent": t.notifications_sent,
                         "refunds": len(t.refunds)} for t in trades.values()])

    @app.post("/_sandbox/renotify/<trade_no>")
    def renotify(trade_no):
        trade = trades.get(trade_no) or abort(404)
        notify_async(trade)
        return jsonify({"ok": True})

    def new_trade(*, merchant_id: str, out_trade_no: str, amount: str, subject: str, notify_url: str) -> Trade:
        return Trade(trade_no="T" + secrets.token_hex(8), merchant_id=merchant_id, out_trade_no=out_trade_no,
                     amount=amount, currency="CNY", subject=subject, notify_url=notify_url, return_url="")

    clear_agreements = agreements.install(app, merchants=merchants, trades=trades, by_out=by_out, lock=lock,
                                          signed=signed, verified=verified, notify_async=notify_async,
                                          new_trade=new_trade, retry_schedule=retry_schedule)

    @app.get("/healthz")
    def health():
        return "ok"

    # --- the daily settlement file ---------------------------------------------------------------------

    #: Sandbox-only faults of the settlement file: lines dropped or re-priced (by out_trade_no or
    #: out_refund_no), lines we never sent, or an error instead of the file.
    statement_faults = {"drop": [], "amounts": {}, "extra": [], "error": False}

    def statement_lines(merchant_id: str, day: date) -> list[dict]:
        lines = []
        with lock:
            for t in trades.values():
                if t.merchant_id != merchant_id:
                    continue
                if t.paid_at and datetime.fromtimestamp(t.paid_at, ZONE).date() == day:
                    fee = (Decimal(t.amount) * FEE_BP / 10000).quantize(Decimal("0.01"))
                    lines.append({"trade_no": t.trade_no, "out_trade_no": t.out_trade_no, "out_refund_no": "",
                                  "type": "payment", "amount": t.amount, "fee": str(fee), "at": t.paid_at})
                for out_refund_no, r in t.refunds.items():
                    if datetime.fromtimestamp(r["at"], ZONE).date() == day:
                        lines.append({"trade_no": r["refund_no"], "out_trade_no": t.out_trade_no,
                                      "out_refund_no": out_refund_no, "type": "refund",
                                      "amount": f"{r['amount']:.2f}", "fee": "0.00", "at": r["at"]})
            faults = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                      for k, v in statement_faults.items()}
        out = []
        for line in sorted(lines, key=lambda x: x["at"]):
            ref = line["out_refund_no"] or line["out_trade_no"]
            if ref in faults["drop"]:
                continue
            if ref in faults["amounts"]:
                line["amount"] = faults["amounts"][ref]
            out.append(line)
        noon = int(datetime.combine(day, datetime.min.time(), ZONE).timestamp()) + 12 * 3600
        for extra in faults["extra"]:
            out.append({"trade_no": "T" + secrets.token_hex(8), "out_trade_no": extra.get("out_trade_no", ""),
                        "out_refund_no": extra.get("out_refund_no", ""), "type": extra.get("type", "payment"),
                        "amount": extra.get("amount", "0.00"), "fee": "0.00", "at": noon})
        return out

    @app.post("/api/statement")
    def statement():
        """The settlement file of one day (`bill_date`, YYYY-MM-DD, Beijing time): every payment that succeeded
        and every refund made that day, as CSV inside a signed answer (the signature covers the file)."""
        fields = request.form.to_dict()
        key = verified(fields)
        try:
            day = date.fromisoformat(fields.get("bill_date", ""))
        except ValueError:
            return jsonify(signed({"error": "INVALID_BILL_DATE"}, key)), 400
        if statement_faults["error"]:
            return jsonify(signed({"error": "SYSTEM_ERROR"}, key)), 500
        lines = statement_lines(fields["merchant_id"], day)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(STATEMENT_COLUMNS)
        for line in lines:
            settled = datetime.fromtimestamp(line["at"], ZONE).isoformat()
            writer.writerow([line[c] for c in STATEMENT_COLUMNS[:-1]] + [settled])
        return jsonify(signed({"merchant_id": fields["merchant_id"], "bill_date": day.isoformat(),
                               "count": len(lines), "csv": buf.getvalue()}, key))

    @app.get("/_sandbox/statement_faults")
    def get_statement_faults():
        return jsonify(statement_faults)

    @app.post("/_sandbox/statement_faults")
    def set_statement_faults():
        """`{"drop": [ref], "amounts": {ref: "12.34"}, "extra": [{"out_trade_no", "amount", "type"}],
        "error": bool}`, each optional; a ref is an out_trade_no, or an out_refund_no for a refund."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) - set(statement_faults):
            return jsonify({"error": "expected an object of drop, amounts, extra, error"}), 400
        with lock:
            statement_faults.update(body)
        return jsonify(statement_faults)

    @app.delete("/_sandbox/statement_faults")
    def clear_statement_faults():
        with lock:
            statement_faults.update(drop=[], amounts={}, extra=[], error=False)
        return jsonify(statement_faults)

    @app.post("/_sandbox/reset")
    def reset():
        """Forget every trade and statement fault (a demo or a test starting clean)."""
        with lock:
            trades.clear()
            by_out.clear()
            statement_faults.update(drop=[], amounts={}, extra=[], error=False)
            clear_agreements()
        return jsonify({"ok": True})

    return app
