"""The after-sales additions to the OpenAPI document (docs/reseller-api-extensions.md): opening and reading
cases, and the callback of a unit refunded after delivery. Merged into openapi.document()."""

CASE_STATUSES = ["open", "in_progress", "replaced", "refunded", "rejected"]
CASE_REASONS = ["code_invalid", "already_used", "topup_missing", "wrong_account", "other"]


def schemas(money: dict, time: dict, ref) -> dict:
    case_example = {"case_no": "CS251231A1B2C3", "order_no": "W2501310815001234", "client_order_no": "shop-10086",
                    "unit": 1, "reason": "code_invalid", "message": "充值提示卡密无效", "status": "refunded",
                    "refund_amount": "25.20", "currency": "CNY", "reply": "上游批次已作废，已退回余额",
                    "created_at": "2025-01-31T08:15:00+00:00", "resolved_at": "2025-01-31T10:02:00+00:00",
                    "events": [{"kind": "opened", "text": "充值提示卡密无效", "at": "2025-01-31T08:15:00+00:00"}]}
    return {
        "CaseRequest": {
            "type": "object", "required": ["reason"],
            "description": "Unknown fields are ignored; a wrong JSON type or a missing field is "
                           "`VALIDATION_ERROR`.",
            "properties": {
                "reason": {"type": "string", "enum": CASE_REASONS},
                "message": {"type": "string", "maxLength": 1000, "description": "What went wrong, for our staff."},
                "unit": {"type": ["integer", "null"], "minimum": 1,
                         "description": "Which unit of the order (1 … quantity; of a bundle, of its parts), "
                                        "for an order delivered unit by unit; left out, an order of one unit "
                                        "is about that unit and any other about the order as a whole. Stocked "
                                        "card-code orders (issued together) take no unit."},
                "client_case_no": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_.:-]{1,64}$",
                                   "description": "Your own case number: the idempotency key. Sending it again "
                                                  "returns the case it opened (200)."},
                "code": {"type": ["string", "null"], "maxLength": 200,
                         "description": "Of a stocked card-code order: the code the case is about, exactly as "
                                        "you received it (from the order's codes). It must be a code the order "
                                        "holds now, else 422 VALIDATION_ERROR; an order delivered unit by unit "
                                        "names a unit instead. Replaced, the order gets a new code (the old one "
                                        "is void and no longer listed); refunded, up to the unit price goes back "
                                        "to your balance. Never echoed in the Case."},
            },
            "example": {"reason": "code_invalid", "message": "充值提示卡密无效", "unit": 1,
                        "client_case_no": "shop-case-77"},
        },
        "Case": {
            "type": "object",
            "required": ["case_no", "order_no", "client_order_no", "unit", "reason", "message", "status",
                         "refund_amount", "currency", "reply", "created_at", "resolved_at", "events"],
            "properties": {
                "case_no": {"type": "string"},
                "order_no": {"type": "string"},
                "client_order_no": {"type": ["string", "null"]},
                "unit": {"type": ["integer", "null"]},
                "reason": {"type": "string", "enum": CASE_REASONS},
                "message": {"type": "string"},
                "status": {"type": "string", "enum": CASE_STATUSES,
                           "description": "`replaced`: the unit has a new code (read the order's codes again) "
                                          "or a new top-up; `refunded`: `refund_amount` went back to your "
                                          "balance (an `order.unit_refunded` callback says so too); `rejected`: "
                                          "`reply` says why."},
                "refund_amount": {"oneOf": [money, {"type": "null"}]},
                "currency": {"const": "CNY"},
                "reply": {"type": ["string", "null"], "description": "Our answer with a refund or a rejection."},
                "created_at": time,
                "resolved_at": {"oneOf": [time, {"type": "null"}]},
                "events": {"type": "array", "items": {
                    "type": "object", "required": ["kind", "text", "at"],
                    "properties": {"kind": {"type": "string"}, "text": {"type": "string"}, "at": time}}},
            },
            "example": case_example,
        },
        "CaseList": {"type": "object", "required": ["items"],
                     "properties": {"items": {"type": "array", "items": ref("schemas", "Case")}}},
        "UnitRefundedEvent": {
            "type": "object", "required": ["event_id", "type", "order", "refund"],
            "properties": {
                "event_id": {"type": "string"},
                "type": {"const": "order.unit_refunded"},
                "order": ref("schemas", "Order"),
                "refund": {"type": "object", "required": ["refund_no", "amount", "currency"],
                           "properties": {"refund_no": {"type": "string"}, "amount": money,
                                          "currency": {"const": "CNY"}}},
            },
        },
    }


def paths(signed, json, ref, error_response) -> dict:
    case_path = [{"name": "case_no", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 32}}]
    order_ref = [{"name": "order_no", "in": "path", "required": True,
                  "description": "Quanyi's order number, or your client_order_no.",
                  "schema": {"type": "string", "maxLength": 64}}]
    return {
        "/api/v1/orders/{order_no}/cases": {
            "post": signed({
                "tags": ["cases"], "operationId": "openCase",
                "summary": "Report a problem with one of your orders (an after-sales case)",
                "description": "Our staff then replace the unit, refund it (all or part, back to your balance) "
                               "or reject the case with a reason. Another reseller's order is 404.",
                "parameters": order_ref,
                "requestBody": {"required": True, "content": json(ref("schemas", "CaseRequest"))},
                "responses": {
                    "201": {"description": "A new case.", "content": json(ref("schemas", "Case"))},
                    "200": {"description": "The same client_case_no: the case it opened.",
                            "content": json(ref("schemas", "Case"))},
                    "409": error_response("That unit already has an open case.", ["CASE_ALREADY_OPEN"]),
                },
            }, ("404", "NotFound"), ("422", "ValidationError")),
            "get": signed({
                "tags": ["cases"], "operationId": "listOrderCases", "summary": "The cases of one of your orders",
                "parameters": order_ref,
                "responses": {"200": {"description": "Newest first.", "content": json(ref("schemas", "CaseList"))}},
            }, ("404", "NotFound")),
        },
        "/api/v1/cases/{case_no}": {"get": signed({
            "tags": ["cases"], "operationId": "getCase", "summary": "One of your cases",
            "parameters": case_path,
            "responses": {"200": {"description": "The case.", "content": json(ref("schemas", "Case"))}},
        }, ("404", "NotFound"))},
    }


def refund_callback(params: list, json, ref) -> dict:
    return {"post": {
        "summary": "Quanyi tells you a delivered unit was refunded to your balance",
        "description": "POSTed (to the order's notify_url) when after-sales refunds a delivered unit, fully or "
                       "in part, once per refund (`refund.refund_no`); the order's status does not change. "
                       "Signed and retried like the order callback.",
        "parameters": params,
        "requestBody": {"required": True, "content": json(ref("schemas", "UnitRefundedEvent"))},
        "responses": {"2XX": {"description": "Acknowledged; any other answer is retried."}},
    }}
