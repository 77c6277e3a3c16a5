"""Adapter for the payment gateway protocol (spoken by sandboxes/paygate and production gateways alike).

Every message is a flat set of string fields signed with HMAC-SHA256 over `k=v` pairs sorted by key and
joined with `&` (empty values and `sign` left out), lowercase hex, under the merchant key.

`POST /api/statement` with `bill_date` answers the settlement file of that Beijing-time day as a `csv` field of
the signed answer (so the signature covers the file): `trade_no,out_trade_no,out_refund_no,type,amount,fee,
settled_at`, one line per payment captured (`payment`) and per refund made (`refund`), amounts in yuan. The
sandbox's `/_sandbox/statement_faults` (drop, amounts, extra, error) makes it differ from reality.
"""

import csv
import hashlib
import hmac
import io
import secrets
import time
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

import httpx
from flask import current_app

from app.core.money import parse_yuan, yuan
from app.core.signatures import same_signature

#: A notification older than this is refused as a replay (the gateway re-signs every retry).
MAX_AGE_SECONDS = 600


#: One pooled client per process: building a client per call costs more CPU than the call itself.
_http = httpx.Client(timeout=10)


class GatewayError(RuntimeError):
    pass


def sign(fields: dict, key: str) -> str:
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign" and fields[k] not in ("", None))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def verify(fields: dict, key: str) -> bool:
    return same_signature(sign(fields, key), fields.get("sign"))


@dataclass(frozen=True)
class Notice:
    notify_id: str
    out_trade_no: str
    trade_no: str
    amount_fen: int
    currency: str
    trade_status: str
    timestamp: int


@dataclass(frozen=True)
class AgreementNotice:
    """A withholding agreement (代扣协议) signed or unsigned: sent async to its notify_url, or carried back by
    the user's return (then notify_id is empty)."""

    notify_id: str
    agreement_no: str
    external_agreement_no: str
    agreement_status: str
    timestamp: int


@dataclass(frozen=True)
class ChargeResult:
    """The gateway's answer to an agreement charge: SUCCESS (trade_no set) or FAIL (fail_code set)."""

    out_trade_no: str
    trade_status: str
    amount_fen: int
    trade_no: str = ""
    fail_code: str = ""


@dataclass(frozen=True)
class StatementLine:
    """One line of the gateway's settlement file. `reference` is ours: the out_trade_no of a payment, the
    out_refund_no of a refund."""

    reference: str
    type: str
    amount_fen: int
    trade_no: str
    settled_at: str


def parse_statement(text: str) -> list[StatementLine]:
    """The settlement file's CSV; raises GatewayError on a file we cannot read line by line."""
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
        lines = [StatementLine(reference=(r["out_refund_no"] or r["out_trade_no"]).strip(), type=r["type"],
                               amount_fen=parse_yuan(r["amount"]), trade_no=r["trade_no"],
                               settled_at=r["settled_at"]) for r in rows]
    except (KeyError, ValueError, csv.Error, AttributeError) as e:
        raise GatewayError(f"unreadable settlement file: {e.__class__.__name__}") from None
    if any(not line.reference or line.type not in ("payment", "refund") for line in lines):
        raise GatewayError("settlement file has a line without a reference or with an unknown type")
    return lines


class SandboxGateway:
    name = "sandbox"

    def __init__(self, base_url: str, public_url: str, merchant_id: str, key: str):
        self.base_url = base_url.rstrip("/")
        self.public_url = (public_url or base_url).rstrip("/")
        self.merchant_id = merchant_id
        self.key = key

    def _signed(self, **fields) -> dict:
        fields = {k: str(v) for k, v in fields.items() if v is not None}
        fields.update(merchant_id=self.merchant_id, timestamp=str(int(time.time())),
                      nonce=secrets.token_hex(8))
        fields["sign"] = sign(fields, self.key)
        return fields

    def checkout_url(self, *, out_trade_no: str, amount_fen: int, subject: str, notify_url: str,
                     return_url: str, currency: str = "CNY") -> str:
        fields = self._signed(out_trade_no=out_trade_no, amount=yuan(amount_fen), currency=currency,
                              subject=subject, notify_url=notify_url, return_url=return_url)
        return f"{self.public_url}/checkout?{urlencode(fields)}"

    def parse_notice(self, form: dict) -> Notice:
        """Verify and parse an asynchronous notification; raises GatewayError with the reason."""
        if form.get("merchant_id") != self.merchant_id or not verify(form, self.key):
            raise GatewayError("bad_signature")
        try:
            ts = int(form["timestamp"])
            notice = Notice(notify_id=form["notify_id"], out_trade_no=form["out_trade_no"],
                            trade_no=form["trade_no"], amount_fen=parse_yuan(form["amount"]),
                            currency=form["currency"], trade_status=form["trade_status"], timestamp=ts)
        except (KeyError, ValueError):
            raise GatewayError("malformed") from None
        if abs(time.time() - ts) > MAX_AGE_SECONDS:
            raise GatewayError("stale")
        return notice

    def _call(self, path: str, **fields) -> dict:
        try:
            resp = _http.post(f"{self.base_url}{path}", data=self._signed(**fields))
            data = resp.json()
        except (httpx.HTTPError, ValueError) as e:
            raise GatewayError(f"gateway unreachable or answered garbage: {e.__class__.__name__}") from e
        if not isinstance(data, dict) or not verify(data, self.key):
            raise GatewayError("gateway answer has a bad signature")
        if resp.status_code >= 400:
            raise GatewayError(data.get("error", f"HTTP {resp.status_code}"))
        return data

    def query(self, out_trade_no: str) -> dict:
        data = self._call("/api/query", out_trade_no=out_trade_no)
        if data.get("trade_status") == "SUCCESS":
            data["amount_fen"] = parse_yuan(data["amount"])
        return data

    def refund(self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> dict:
        """Idempotent by out_refund_no: asking twice refunds once."""
        return self._call("/api/refund", out_trade_no=out_trade_no, out_refund_no=out_refund_no,
                          amount=yuan(amount_fen), reason=reason)

    # --- withholding agreements (代扣协议; sandboxes/paygate/agreements.py) -------------------------------

    def agreement_sign_url(self, *, external_agreement_no: str, plan: str, period_type: str, period: int,
                           max_amount_fen: int, notify_url: str, return_url: str) -> str:
        """Where the user reads and signs the agreement: plan, period, the most one charge may take."""
        fields = self._signed(external_agreement_no=external_agreement_no, plan=plan, period_type=period_type,
                              period=period, max_amount=yuan(max_amount_fen), notify_url=notify_url,
                              return_url=return_url)
        return f"{self.public_url}/agreement/sign?{urlencode(fields)}"

    def parse_agreement_notice(self, form: dict) -> AgreementNotice:
        """Verify an agreement notice (or the signed return); raises GatewayError with the reason."""
        if form.get("merchant_id") != self.merchant_id or not verify(form, self.key):
            raise GatewayError("bad_signature")
        try:
            ts = int(form["timestamp"])
            notice = AgreementNotice(notify_id=form.get("notify_id", ""), agreement_no=form["agreement_no"],
                                     external_agreement_no=form["external_agreement_no"],
                                     agreement_status=form["agreement_status"], timestamp=ts)
        except (KeyError, ValueError):
            raise GatewayError("malformed") from None
        if abs(time.time() - ts) > MAX_AGE_SECONDS:
            raise GatewayError("stale")
        return notice

    def charge_agreement(self, *, agreement_no: str, out_trade_no: str, amount_fen: int, subject: str,
                         notify_url: str) -> ChargeResult:
        """Charge a signed agreement, idempotent by out_trade_no (asking again gives the first answer).
        Raises GatewayError when there is no answer to trust (the outcome is then unknown: ask again)."""
        data = self._call("/api/agreement/charge", agreement_no=agreement_no, out_trade_no=out_trade_no,
                          amount=yuan(amount_fen), subject=subject, notify_url=notify_url)
        if data.get("out_trade_no") != out_trade_no or data.get("trade_status") not in ("SUCCESS", "FAIL"):
            raise GatewayError("agreement charge answered for another trade or without a status")
        return ChargeResult(out_trade_no=out_trade_no, trade_status=data["trade_status"],
                            amount_fen=parse_yuan(data["amount"]), trade_no=data.get("trade_no", ""),
                            fail_code=data.get("fail_code", ""))

    def unsign_agreement(self, agreement_no: str) -> str:
        return self._call("/api/agreement/unsign", agreement_no=agreement_no)["agreement_status"]

    def statement(self, day: date) -> list[StatementLine]:
        """The settlement file of one (Beijing-time) day; its signature covers the file itself."""
        data = self._call("/api/statement", bill_date=day.isoformat())
        if data.get("bill_date") != day.isoformat() or "csv" not in data:
            raise GatewayError("the gateway answered with another day's file or no file")
        return parse_statement(data["csv"])


def gateway() -> SandboxGateway:
    cfg = current_app.config
    return SandboxGateway(cfg["PAYGATE_URL"], cfg["PAYGATE_PUBLIC_URL"], cfg["PAYGATE_MERCHANT_ID"],
                          cfg["PAYGATE_KEY"])
