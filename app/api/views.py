"""The endpoints of docs/reseller-api.md. The tenant is the reseller of the signing key (g.reseller), never a
parameter: another reseller's order is a 404 like one that does not exist."""

import json

from flask import g, jsonify, request
from flask_babel import lazy_gettext as _l

from app.api import auth, bp, openapi, products
from app.channels import balance, files, wholesale
from app.core.errors import ValidationError
from app.core.money import yuan
from app.service import reseller_cases

#: Endpoints anyone may call without a signature.
PUBLIC = {"api.openapi_json"}

#: POST /orders body fields: name → (accepted JSON types, required).
ORDER_FIELDS = {"client_order_no": ((str,), True), "sku": ((str,), True), "quantity": ((int,), True),
                "account": ((str, type(None)), False), "notify_url": ((str, type(None)), False)}
#: POST /orders/{order_no}/cases body fields (docs/reseller-api-extensions.md).
CASE_FIELDS = {"reason": ((str,), True), "message": ((str,), False), "unit": ((int, type(None)), False),
               "client_case_no": ((str, type(None)), False), "code": ((str, type(None)), False)}


@bp.before_request
def _authenticate():
    request.max_content_length = auth.MAX_BODY
    if request.endpoint in PUBLIC:
        return
    g.api_credential, g.reseller = auth.authenticate()


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(openapi.document())


@bp.get("/balance")
@auth.rate_limit
def get_balance():
    return jsonify({"balance": yuan(balance.of(g.reseller.id)), "currency": "CNY"})


@bp.get("/products")
@auth.rate_limit
def list_products():
    return jsonify({"items": products.price_list(g.reseller)})


@bp.post("/orders")
@auth.rate_limit
def create_order():
    body = _order_body(request.get_data(cache=True))
    view, created = wholesale.place_for_api(g.reseller, sku=body["sku"], quantity=body["quantity"],
                                            client_order_no=body["client_order_no"], account=body.get("account"),
                                            notify_url=body.get("notify_url"), credential_id=g.api_credential.id)
    return jsonify(view), 201 if created else 200


@bp.get("/orders")
@auth.rate_limit
def find_orders():
    client_order_no = request.args.get("client_order_no", "").strip()
    if not client_order_no:
        raise ValidationError(_l("Give client_order_no to look an order up."))
    return jsonify({"items": [wholesale.to_api(o) for o in wholesale.find_by_client_no(g.reseller.id,
                                                                                          client_order_no)]})


@bp.get("/orders/<order_no>")
@auth.rate_limit
def get_order(order_no: str):
    return jsonify(wholesale.to_api(wholesale.get_for(g.reseller.id, order_no)))


@bp.get("/orders/<order_no>/codes")
@auth.rate_limit
def order_codes(order_no: str):
    """The codes delivered so far (all of them once the order is delivered); every reveal is audited."""
    order = wholesale.get_for(g.reseller.id, order_no)
    return jsonify({"items": files.reveal_for_api(order, g.api_credential.id, request.remote_addr)})


@bp.post("/orders/<order_no>/cases")
@auth.rate_limit
def open_case(order_no: str):
    """An after-sales case about one of your orders (by order_no or client_order_no)."""
    body = _body(request.get_data(cache=True), CASE_FIELDS)
    case, created = reseller_cases.open_for(g.reseller.id, order_no, reason=body["reason"],
                                            message=body.get("message") or "", unit=body.get("unit"),
                                            client_case_no=body.get("client_case_no"), code=body.get("code"),
                                            ip=request.remote_addr)
    return jsonify(reseller_cases.to_api(case)), 201 if created else 200


@bp.get("/orders/<order_no>/cases")
@auth.rate_limit
def order_cases(order_no: str):
    order = reseller_cases.order_of(g.reseller.id, order_no)
    return jsonify({"items": [reseller_cases.to_api(c, o) for c, o in reseller_cases.list_for(g.reseller.id,
                                                                                               order.id)]})


@bp.get("/cases/<case_no>")
@auth.rate_limit
def get_case(case_no: str):
    return jsonify(reseller_cases.to_api(reseller_cases.get_for(g.reseller.id, case_no)))


def _order_body(raw: bytes) -> dict:
    """The POST /orders body, shape and types checked (ranges and meaning are the order service's)."""
    return _body(raw, ORDER_FIELDS)


def _body(raw: bytes, fields: dict) -> dict:
    """A JSON object body, shape and types checked against `fields` (ranges and meaning are the service's)."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError(_l("The body must be a JSON object (UTF-8).")) from None
    if not isinstance(body, dict):
        raise ValidationError(_l("The body must be a JSON object (UTF-8)."))
    for name, (types, required) in fields.items():
        if name not in body:
            if required:
                raise ValidationError(_l("%(field)s is required.", field=name))
            continue
        value = body[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValidationError(_l("%(field)s has the wrong type.", field=name))
    return body


def _no_constant(name: str):
    raise ValueError(name)
