"""botocore failures → TransientAwsError / PermanentAwsError, keeping AWS's own message.

The split decides what callers do next: Celery tasks `autoretry_for` transient errors
only, services record permanent ones on the run for operators to read. So the table
errs towards "transient" only for codes AWS documents as retryable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from diep_portal.exceptions import (
    AwsError,
    ConcurrencyLimitExceeded,
    PermanentAwsError,
    TransientAwsError,
)

#: Error codes AWS uses for throttling and server-side failures: retry later.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServiceException",
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "OperationTimeoutException",
    }
)

#: Glue refusing a StartJobRun because a concurrency/quota slot is full: retry later,
#: but callers may want to queue the run instead, hence the own subclass.
CONCURRENCY_CODES = frozenset(
    {"ConcurrentRunsExceededException", "ResourceNumberLimitExceededException"}
)


#: The code we give an operation the endpoint does not implement: AWS's own 501, or an
#: emulator's bare 500 page (moto answers an unknown action with an HTML page, no code).
#: Asking again cannot help, so it is permanent and surfaced, never retried.
NOT_IMPLEMENTED = "NotImplemented"


def _not_implemented(code: str, message: str, http_status: int | None) -> bool:
    return http_status == 501 or (
        http_status == 500 and code == "500" and message.lstrip().lower().startswith("<!doctype")
    )


def classify_client_error(code: str, http_status: int | None) -> type[AwsError]:
    """The AwsError subclass for an AWS error `code` answered with `http_status`.

    Any 5xx and 429 is transient whatever the code says; unknown 4xx codes
    (AccessDenied, EntityNotFoundException, ValidationException, ...) are permanent.
    """
    if code == NOT_IMPLEMENTED:
        return PermanentAwsError
    if code in CONCURRENCY_CODES:
        return ConcurrencyLimitExceeded
    if code in TRANSIENT_CODES:
        return TransientAwsError
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return TransientAwsError
    return PermanentAwsError


def aws_error_from_client_error(exc: ClientError, *, service: str, operation: str) -> AwsError:
    """Our AwsError for a botocore ClientError, with AWS's code, message and request id."""
    error = exc.response.get("Error", {})
    metadata = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code") or "Unknown")
    # Operators read this message: keep AWS's own text, botocore's summary as fallback.
    message = str(error.get("Message") or "") or str(exc)
    raw_status = metadata.get("HTTPStatusCode")
    http_status = int(raw_status) if raw_status is not None else None
    if _not_implemented(code, message, http_status):
        code, message = NOT_IMPLEMENTED, f"the endpoint does not implement {operation}"
    error_class = classify_client_error(code, http_status)
    return error_class(
        service=service,
        operation=operation,
        code=code,
        message=message,
        http_status=http_status,
        request_id=metadata.get("RequestId") or None,
    )


@contextmanager
def translate_aws_errors(service: str, operation: str) -> Iterator[None]:
    """Re-raise botocore errors from the block as AwsError subclasses.

    Usable as a context manager (`with translate_aws_errors("glue", "StartJobRun"):`)
    or, like any `contextmanager`, as a decorator. The botocore exception is chained
    (`__cause__`). Connection failures and timeouts (endpoint unreachable, connect or
    read timeout, connection closed, proxy errors) are transient.
    """
    try:
        yield
    except ClientError as exc:
        raise aws_error_from_client_error(exc, service=service, operation=operation) from exc
    except (BotocoreConnectionError, HTTPClientError) as exc:
        # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError (ConnectionError);
        # ReadTimeoutError, ConnectionClosedError (HTTPClientError).
        raise TransientAwsError(
            service=service,
            operation=operation,
            code=type(exc).__name__,
            message=str(exc),
            http_status=None,
        ) from exc
