"""botocore errors → TransientAwsError / ConcurrencyLimitExceeded / PermanentAwsError.

The table is spelled out here, not imported from the module under test, so shrinking
the module's code sets makes these tests fail.
"""

from __future__ import annotations

import pickle
import socket
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from diep_portal.aws.errors import classify_client_error, translate_aws_errors
from diep_portal.aws.glue import glue_get_job, glue_start_job_run
from diep_portal.aws.session import reset_clients
from diep_portal.exceptions import (
    ApplicationError,
    AwsError,
    ConcurrencyLimitExceeded,
    Conflict,
    NotFound,
    PermanentAwsError,
    TransientAwsError,
    Unprocessable,
    ValidationFailed,
)

TRANSIENT_CODES = [
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "InternalServiceException",
    "InternalFailure",
    "InternalServerError",
]
CONCURRENCY_CODES = ["ConcurrentRunsExceededException", "ResourceNumberLimitExceededException"]
PERMANENT_CODES = [
    "AccessDenied",
    "AccessDeniedException",
    "EntityNotFoundException",
    "InvalidInputException",
    "ValidationException",
    "AlreadyExistsException",
    "IdempotentParameterMismatchException",
    "SomethingAwsInventsTomorrow",
]


def client_error(
    code: str, status: int = 400, message: str = "AWS says no", operation: str = "StartJobRun"
) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "req-123"},
    }
    return ClientError(response, operation)


def raised_by(exc: BaseException) -> AwsError:
    with pytest.raises(AwsError) as info, translate_aws_errors("glue", "StartJobRun"):
        raise exc
    return info.value


# ------------------------------------------------------------------ the mapping table


@pytest.mark.parametrize("code", TRANSIENT_CODES)
def test_throttling_and_server_codes_are_transient_even_with_a_4xx_status(code: str) -> None:
    error = raised_by(client_error(code, status=400))
    assert type(error) is TransientAwsError
    assert classify_client_error(code, 400) is TransientAwsError


@pytest.mark.parametrize("code", CONCURRENCY_CODES)
def test_concurrency_codes_are_concurrency_limit_exceeded(code: str) -> None:
    error = raised_by(client_error(code, status=400))
    assert type(error) is ConcurrencyLimitExceeded
    assert isinstance(error, TransientAwsError)  # so Celery's autoretry_for still catches it


@pytest.mark.parametrize("code", PERMANENT_CODES)
def test_other_client_errors_are_permanent(code: str) -> None:
    error = raised_by(client_error(code, status=400))
    assert type(error) is PermanentAwsError
    assert not isinstance(error, TransientAwsError)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599, 429])
def test_any_5xx_or_429_is_transient_whatever_the_code(status: int) -> None:
    assert type(raised_by(client_error("SomethingOdd", status=status))) is TransientAwsError


@pytest.mark.parametrize("status", [400, 403, 404, 409])
def test_unknown_code_with_4xx_is_permanent(status: int) -> None:
    assert type(raised_by(client_error("SomethingOdd", status=status))) is PermanentAwsError


def test_an_operation_the_endpoint_does_not_implement_is_permanent() -> None:
    page = "<!doctype html>\n<title>500 Internal Server Error</title>"  # moto's answer
    for error in (
        raised_by(client_error("500", 500, page)),
        raised_by(client_error("NotImplemented", 501, "A header you provided implies ...")),
    ):
        assert type(error) is PermanentAwsError
        assert error.code == "NotImplemented"
        assert error.message == "the endpoint does not implement StartJobRun"
    # AWS's own 500s carry a code and stay transient.
    assert type(raised_by(client_error("InternalFailure", 500, "oops"))) is TransientAwsError


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_connection_errors_and_timeouts_are_transient(exc: Exception) -> None:
    error = raised_by(exc)
    assert type(error) is TransientAwsError
    assert error.code == type(exc).__name__
    assert error.http_status is None
    assert "127.0.0.1:1" in error.message
    assert error.__cause__ is exc


def test_translated_error_keeps_aws_code_message_status_and_request_id() -> None:
    original = client_error("AccessDeniedException", 400, "User: x is not authorized")
    error = raised_by(original)
    assert (error.service, error.operation) == ("glue", "StartJobRun")
    assert error.code == "AccessDeniedException"
    assert error.message == "User: x is not authorized"
    assert error.http_status == 400
    assert error.request_id == "req-123"
    assert str(error) == "glue.StartJobRun: AccessDeniedException: User: x is not authorized"
    assert error.__cause__ is original


def test_non_aws_exceptions_pass_through_untouched() -> None:
    with pytest.raises(KeyError), translate_aws_errors("glue", "GetJob"):
        raise KeyError("mine")


def test_usable_as_a_decorator() -> None:
    @translate_aws_errors("s3", "GetObject")
    def fetch() -> None:
        raise client_error("SlowDown", 503, operation="GetObject")

    with pytest.raises(TransientAwsError) as info:
        fetch()
    assert (info.value.service, info.value.operation, info.value.code) == (
        "s3",
        "GetObject",
        "SlowDown",
    )

    # ------------------------------------------------------------------ through the real hooks

    reset_clients()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, TransientAwsError),
        ("ServiceUnavailable", 503, TransientAwsError),
        ("InternalServiceException", 500, TransientAwsError),
        ("ConcurrentRunsExceededException", 400, ConcurrencyLimitExceeded),
        ("ResourceNumberLimitExceededException", 400, ConcurrencyLimitExceeded),
        ("AccessDeniedException", 400, PermanentAwsError),
        ("EntityNotFoundException", 400, PermanentAwsError),
    ],
)
def test_start_job_run_errors_are_translated(
    glue_stub: Stubber, code: str, status: int, expected: type[AwsError]
) -> None:
    glue_stub.add_client_error(
        "start_job_run",
        service_error_code=code,
        service_message=f"{code} from AWS",
        http_status_code=status,
    )
    with pytest.raises(AwsError) as info:
        glue_start_job_run(job_name="diep-ingest", arguments={})
    assert type(info.value) is expected
    assert info.value.operation == "StartJobRun"
    assert info.value.code == code
    assert info.value.message == f"{code} from AWS"
    assert info.value.http_status == status


def test_get_job_raises_permanent_errors_other_than_not_found(glue_stub: Stubber) -> None:
    glue_stub.add_client_error(
        "get_job", service_error_code="AccessDeniedException", service_message="denied"
    )
    with pytest.raises(PermanentAwsError, match="denied"):
        glue_get_job(job_name="diep-ingest")


def test_unreachable_endpoint_is_transient(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.AWS_REGION = "us-east-1"
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    settings.AWS_CONNECT_TIMEOUT = 1.0
    settings.AWS_READ_TIMEOUT = 1.0
    settings.AWS_MAX_ATTEMPTS = 0
    settings.AWS_RETRY_MODE = "standard"
    reset_clients()
    try:
        with pytest.raises(TransientAwsError) as info:
            glue_get_job(job_name="diep-ingest")
    finally:
        reset_clients()
    assert info.value.code == "EndpointConnectionError"
    assert info.value.operation == "GetJob"


# ------------------------------------------------------------------ the exception classes


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (ApplicationError, 400),
        (ValidationFailed, 400),
        (NotFound, 404),
        (Conflict, 409),
        (Unprocessable, 422),
    ],
)
def test_application_error_statuses(cls: type[ApplicationError], status: int) -> None:
    error = cls("nope", extra={"hint": "x"})
    assert (error.status_code, error.message, error.extra, str(error)) == (
        status,
        "nope",
        {"hint": "x"},
        "nope",
    )
    assert cls("bare").extra == {}


def test_validation_failed_from_fields() -> None:
    error = ValidationFailed.from_fields({"name": ["Already taken."], "schedule": "Bad cron."})
    assert error.status_code == 400
    assert error.extra == {"fields": {"name": ["Already taken."], "schedule": ["Bad cron."]}}


@pytest.mark.parametrize(
    "error",
    [
        TransientAwsError(service="glue", operation="GetJobRuns", code="Throttling", message="m"),
        ConcurrencyLimitExceeded(
            service="glue",
            operation="StartJobRun",
            code="ConcurrentRunsExceededException",
            message="full",
            http_status=400,
            request_id="r-1",
        ),
        PermanentAwsError(service="s3", operation="GetObject", code="NoSuchKey", message="m"),
        ValidationFailed.from_fields({"name": ["x"]}),
        Conflict("busy", extra={"run_id": "r"}),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_pickling(error: Exception) -> None:
    # Celery result backends and multiprocessing pickle exceptions; keyword-only
    # constructors break the default Exception pickling.
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert str(copy) == str(error)
