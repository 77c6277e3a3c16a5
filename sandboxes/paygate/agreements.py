"""Withholding agreements (代扣协议), shaped like Alipay's 周期扣款 and WeChat's 委托代扣.

The merchant sends the user to `GET /agreement/sign` (signed: external_agreement_no, plan, period_type,
period, max_amount, notify_url, return_url); the user confirms there; the gateway notifies the merchant
(signed, async, retried until it answers `success`) with the agreement_no and `agreement_status=SIGNED`, and
sends the user back to return_url with the same signed fields. The merchant then charges the agreement
server to server (`POST /api/agreement/charge`: agreement_no, out_trade_no, amount, notify_url), idempotent by
out_trade_no: it answers `trade_status=SUCCESS` (and the usual async payment notice follows) or
`trade_status=FAIL` with a `fail_code`, and asking again with the same out_trade_no gives the same answer.
Either side unsigns (`POST /api/agreement/unsign`, or the user at the gateway: `/_sandbox/agreements/<no>/
unsign`); the gateway notifies `agreement_status=UNSIGNED`. Fault injection: `POST /_sandbox/agreements/<no>/
faults` with `{"fail_next": n, "fail_code": "INSUFFICIENT_BALANCE"}` makes the next n new charges fail.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

import httpx
from flask import abort, jsonify, redirect, render_template, request

log = logging.getLogger("paygate")

PERIOD_TYPES = ("MONTH", "DAY")
FAIL_CODES = ("INSUFFICIENT_BALANCE", "PAYER_RISK_REJECTED", "CARD_EXPIRED", "SYSTEM_ERROR")


@dataclass
class Agreement:
    agreement_no: str
    merchant_id: str
    external_agreement_no: str
    plan: str
    period_type: str
    period: int
    max_amount: Decimal
    notify_url: str
    return_url: str
    status: str = "TEMP"  # TEMP → SIGNED | REFUSED; SIGNED → UNSIGNED
    signed_at: int | None = None
    unsigned_at: int | None = None
    fail_next: int = 0
    fail_code: str = "INSUFFICIENT_BALANCE"
    #: out_trade_no → the charge's answer (SUCCESS or a fail code), so a repeat gets the same one.
    charges: dict = field(default_factory=dict)
    notifications_sent: int = 0


def install(app, *, merchants, trades, by_out, lock, signed, verified, notify_async, new_trade,
            retry_schedule) -> callable:
    """Add the agreement routes to the sandbox app; returns the function that forgets every agreement."""
    agreements: dict[str, Agreement] = {}
    by_ext: dict[tuple[str, str], str] = {}
    http = httpx.Client(timeout=10)

    def notice(a: Agreement) -> dict:
        return signed({"notify_id": "A" + secrets.token_hex(10), "notify_type": "agreement",
                       "merchant_id": a.merchant_id, "agreement_no": a.agreement_no,
                       "external_agreement_no": a.external_agreement_no, "agreement_status": a.status,
                       "sign_time": a.signed_at, "unsign_time": a.unsigned_at}, merchants[a.merchant_id])

    def send_notice(a: Agreement) -> None:
        # One notify_id per event, kept across retries (the merchant dedupes on it), re-signed each time.
        fields = notice(a)
        for wait in retry_schedule:
            time.sleep(wait)
            fields = signed({k: v for k, v in fields.items() if k not in ("sign", "timestamp")},
                            merchants[a.merchant_id])
            try:
                resp = http.post(a.notify_url, data=fields)
                a.notifications_sent += 1
                if resp.status_code == 200 and resp.text.strip() == "success":
                    return
            except httpx.HTTPError as e:
                log.info("agreement notify %s failed: %s", a.agreement_no, e)

    def notify(a: Agreement) -> None:
        threading.Thread(target=send_notice, args=(a,), daemon=True).start()

    @app.get("/agreement/sign")
    def agreement_sign():
        fields = request.args.to_dict()
        verified(fields)
        for name in ("external_agreement_no", "plan", "period_type", "period", "max_amount", "notify_url",
                     "return_url"):
            if not fields.get(name):
                abort(400, f"missing {name}")
        try:
            period, max_amount = int(fields["period"]), Decimal(fields["max_amount"])
        except (ValueError, InvalidOperation):
            abort(400, "bad period or max_amount")
        if fields["period_type"] not in PERIOD_TYPES or period < 1 or max_amount <= 0:
            abort(400, "bad period or max_amount")
        with lock:
            key = (fields["merchant_id"], fields["external_agreement_no"])
            a = agreements.get(by_ext.get(key, ""))
            if a is None:
                a = Agreement(agreement_no="AG" + secrets.token_hex(8), merchant_id=fields["merchant_id"],
                              external_agreement_no=fields["external_agreement_no"], plan=fields["plan"],
                              period_type=fields["period_type"], period=period, max_amount=max_amount,
                              notify_url=fields["notify_url"], return_url=fields["return_url"])
                agreements[a.agreement_no] = a
                by_ext[key] = a.agreement_no
        return render_template("agreement.html", a=a)

    def back_to_merchant(a: Agreement):
        back = signed({"merchant_id": a.merchant_id, "agreement_no": a.agreement_no,
                       "external_agreement_no": a.external_agreement_no, "agreement_status": a.status},
                      merchants[a.merchant_id])
        sep = "&" if "?" in a.return_url else "?"
        return redirect(f"{a.return_url}{sep}{urlencode(back)}", 303)

    @app.post("/agreement/<agreement_no>/confirm")
    def agreement_confirm(agreement_no):
        with lock:
            a = agreements.get(agreement_no) or abort(404)
            changed = a.status == "TEMP"
            if changed:
                a.status, a.signed_at = "SIGNED", int(time.time())
        if changed:
            notify(a)
        return back_to_merchant(a)

    @app.post("/agreement/<agreement_no>/refuse")
    def agreement_refuse(agreement_no):
        with lock:
            a = agreements.get(agreement_no) or abort(404)
            if a.status == "TEMP":
                a.status = "REFUSED"
        return back_to_merchant(a)

    def agreement_of(fields: dict) -> Agreement | None:
        a = agreements.get(fields.get("agreement_no", ""))
        return a if a is not None and a.merchant_id == fields["merchant_id"] else None

    def unsign(a: Agreement) -> bool:
        with lock:
            changed = a.status == "SIGNED"
            if changed:
                a.status, a.unsigned_at = "UNSIGNED", int(time.time())
        if changed:
            notify(a)
        return changed

    @app.post("/api/agreement/query")
    def agreement_query():
        fields = request.form.to_dict()
        key = verified(fields)
        a = agreement_of(fields)
        if a is None:
            return jsonify(signed({"agreement_no": fields.get("agreement_no"), "agreement_status": "NOT_FOUND"},
                                  key))
        return jsonify(signed({"agreement_no": a.agreement_no, "external_agreement_no": a.external_agreement_no,
                               "agreement_status": a.status}, key))

    @app.post("/api/agreement/unsign")
    def agreement_unsign():
        fields = request.form.to_dict()
        key = verified(fields)
        a = agreement_of(fields)
        if a is None:
            return jsonify(signed({"error": "AGREEMENT_NOT_FOUND"}, key)), 404
        unsign(a)
        return jsonify(signed({"agreement_no": a.agreement_no, "agreement_status": a.status}, key))

    @app.post("/api/agreement/charge")
    def agreement_charge():
        fields = request.form.to_dict()
        key = verified(fields)
        for name in ("agreement_no", "out_trade_no", "amount", "notify_url"):
            if not fields.get(name):
                return jsonify(signed({"error": f"MISSING_{name.upper()}"}, key)), 400
        try:
            amount = Decimal(fields["amount"])
        except InvalidOperation:
            return jsonify(signed({"error": "AMOUNT_INVALID"}, key)), 400
        out_trade_no = fields["out_trade_no"]
        success = None
        with lock:
            a = agreement_of(fields)
            if a is None:
                return jsonify(signed({"error": "AGREEMENT_NOT_FOUND"}, key)), 404
            answer = a.charges.get(out_trade_no)
            if answer is None:
                if (fields["merchant_id"], out_trade_no) in by_out:
                    return jsonify(signed({"error": "OUT_TRADE_NO_USED"}, key)), 409
                if a.status != "SIGNED":
                    answer = {"trade_status": "FAIL", "fail_code": "AGREEMENT_NOT_VALID"}
                elif amount <= 0 or amount > a.max_amount:
                    answer = {"trade_status": "FAIL", "fail_code": "EXCEED_MAX_AMOUNT"}
                elif a.fail_next > 0:
                    a.fail_next -= 1
                    answer = {"trade_status": "FAIL", "fail_code": a.fail_code}
                else:
                    trade = new_trade(merchant_id=a.merchant_id, out_trade_no=out_trade_no, amount=f"{amount:.2f}",
                                      subject=fields.get("subject", a.plan), notify_url=fields["notify_url"])
                    trade.status, trade.paid_at = "SUCCESS", int(time.time())
                    trades[trade.trade_no] = trade
                    by_out[(a.merchant_id, out_trade_no)] = trade.trade_no
                    answer = {"trade_status": "SUCCESS", "trade_no": trade.trade_no, "paid_at": trade.paid_at}
                    success = trade
                answer.update(out_trade_no=out_trade_no, amount=f"{amount:.2f}", agreement_no=a.agreement_no)
                a.charges[out_trade_no] = answer
            elif answer["amount"] != f"{amount:.2f}":
                return jsonify(signed({"error": "OUT_TRADE_NO_REUSED"}, key)), 409
        if success is not None:
            notify_async(success)
        return jsonify(signed(dict(answer), key))

    @app.get("/_sandbox/agreements")
    def list_agreements():
        return jsonify([{"agreement_no": a.agreement_no, "external_agreement_no": a.external_agreement_no,
                         "status": a.status, "fail_next": a.fail_next, "charges": a.charges,
                         "notifications_sent": a.notifications_sent} for a in agreements.values()])

    def find(no: str) -> Agreement:
        a = agreements.get(no) or next((x for x in agreements.values() if x.external_agreement_no == no), None)
        return a or abort(404)

    @app.post("/_sandbox/agreements/<no>/faults")
    def agreement_faults(no):
        """`{"fail_next": n, "fail_code": "INSUFFICIENT_BALANCE"}`: the next n new charges fail with that code.
        `no` is the gateway's agreement_no or the merchant's external_agreement_no."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("fail_next", 0), int) or \
                body.get("fail_code", FAIL_CODES[0]) not in FAIL_CODES:
            return jsonify({"error": f"expected fail_next (int) and fail_code in {FAIL_CODES}"}), 400
        with lock:
            a = find(no)
            a.fail_next = body.get("fail_next", 0)
            a.fail_code = body.get("fail_code", FAIL_CODES[0])
        return jsonify({"agreement_no": a.agreement_no, "fail_next": a.fail_next, "fail_code": a.fail_code})

    @app.post("/_sandbox/agreements/<no>/unsign")
    def agreement_user_unsign(no):
        """The user unsigns in the gateway's own app: the merchant hears it by notice."""
        a = find(no)
        unsign(a)
        return jsonify({"agreement_no": a.agreement_no, "status": a.status})

    def clear() -> None:
        agreements.clear()
        by_ext.clear()

    return clear
