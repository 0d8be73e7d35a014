"""Expected errors and the one place that turns them into HTTP responses."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """An expected, user-facing error: a human `message` plus `extra` body fields.

    Services raise these; the API exception handler below turns them into
    `status_code` responses (never a 500), admin and commands show `message`.
    """

    status_code = 400
    default_code = "error"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra: dict[str, Any] = dict(extra or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments do not survive the default Exception pickling
        # (Celery results, multiprocessing): rebuild from the attributes instead.
        return (_rebuild, (type(self), (self.message,), {"extra": self.extra}))


class ValidationFailed(ApplicationError):
    """400 with per-field messages under `extra["fields"]`."""

    default_code = "invalid"

    @classmethod
    def from_fields(
        cls, fields: dict[str, Any], message: str = "Invalid input."
    ) -> ValidationFailed:
        """`ValidationFailed.from_fields({"name": ["Already taken."]})`; a bare string
        message for a field is wrapped in a list so clients always get lists."""
        normalized = {
            field: [messages] if isinstance(messages, str) else messages
            for field, messages in fields.items()
        }
        return cls(message, extra={"fields": normalized})


class NotFound(ApplicationError):
    """404: the addressed object does not exist (or is not visible to the caller)."""

    status_code = 404
    default_code = "not_found"


class Conflict(ApplicationError):
    """409: the request clashes with the current state (duplicate, in flight, wrong state)."""

    status_code = 409
    default_code = "conflict"


class PreconditionFailed(ApplicationError):
    """412: the request's If-Match names a version that is no longer the current one."""

    status_code = 412
    default_code = "precondition_failed"


class Unprocessable(ApplicationError):
    """422: well-formed but semantically refused (e.g. idempotency key reused with new body)."""

    status_code = 422
    default_code = "unprocessable"


class AwsError(Exception):
    """An AWS call failed; keeps the service's own code and message for operators.

    Built only by `diep_portal.aws.errors` (and engines reporting per-item failures).
    `http_status` is None for connection errors and timeouts; `request_id` is AWS's
    request id when known (quote it to AWS support).
    """

    def __init__(
        self,
        *,
        service: str,
        operation: str,
        code: str,
        message: str,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{service}.{operation}: {code}: {message}")
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.http_status = http_status
        self.request_id = request_id

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "service": self.service,
            "operation": self.operation,
            "code": self.code,
            "message": self.message,
            "http_status": self.http_status,
            "request_id": self.request_id,
        }
        return (_rebuild, (type(self), (), kwargs))


class TransientAwsError(AwsError):
    """Worth retrying: throttling, 5xx, timeouts, connection errors, full concurrency."""


class PermanentAwsError(AwsError):
    """Retrying will not help: access denied, unknown entity, invalid input."""


class ConcurrencyLimitExceeded(TransientAwsError):
    """Glue refused the start because the job's or account's concurrency limit is full
    (ConcurrentRunsExceededException, ResourceNumberLimitExceededException)."""


def _rebuild(cls: type[Exception], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Exception:
    return cls(*args, **kwargs)


# ---------------------------------------------------------------------------------------
# End of the exception classes. The DRF exception handler lives below this line.
# ---------------------------------------------------------------------------------------


def _code_for(status_code: int) -> str:
    return {
        400: "invalid",
        401: "not_authenticated",
        403: "permission_denied",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        412: "precondition_failed",
        415: "unsupported_media_type",
        422: "unprocessable",
        429: "throttled",
    }.get(status_code, "error")


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """One error shape for every API failure: `{"detail", "code", "fields"?}`.

    ApplicationError subclasses map to their status; DRF's own errors keep theirs, with
    validation messages per field under `fields`. Anything else is a bug and stays a 500.
    """
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"detail": exc.message, "code": exc.default_code, **exc.extra}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response({"detail": "Invalid input.", "code": "invalid", "fields": fields}, 400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        data = response.data
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = {"detail": "Invalid input.", "code": "invalid", "fields": fields}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {
            "detail": str(response.data["detail"]),
            "code": _code_for(response.status_code),
        }
    return response
