"""Domain errors carry a stable code and a translatable message; views and the CLI show them."""


class DomainError(Exception):
    code = "VALIDATION_ERROR"
    status = 422

    def __init__(self, message: str = "", code: str | None = None, **details):
        super().__init__(message or self.__class__.__name__)
        self.message = message
        if code:
            self.code = code
        self.details = details


class ValidationError(DomainError):
    code = "VALIDATION_ERROR"


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


class Conflict(DomainError):
    code = "CONFLICT"
    status = 409


class InsufficientStock(Conflict):
    code = "INSUFFICIENT_STOCK"


class TransitionError(Conflict):
    code = "INVALID_TRANSITION"


class Forbidden(DomainError):
    code = "FORBIDDEN"
    status = 403


def raise_all(errors: list[DomainError]) -> None:
    """Raise the first of `errors` carrying all of them (details["errors"]), so a form shows every bad field at
    once; nothing when the list is empty."""
    if errors:
        errors[0].details["errors"] = errors
        raise errors[0]
