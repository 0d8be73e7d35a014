"""Shared fixtures: users in each role, API clients with real tokens, valid job bodies,
the moto server (real HTTP) standing in for AWS, and a local HTTP receiver as the alert
webhook."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# Fake credentials for moto only; set before any boto3 client exists.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """PBKDF2 at Django's strength costs ~0.5 s per user created; the tests are about who
    may do what, not about hashing (the deployed settings keep Django's hashers)."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One SparkSession (local[2]) for the whole pytest session. Spark tests run in a
    pytest session of their own (`make test` calls it), so no other test pays for it."""
    from etl.spark.session import spark_session

    session = spark_session()
    yield session
    session.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free local port for the whole session; yields its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server: str, settings: Any) -> Iterator[str]:
    """Point the AWS hooks at a freshly reset moto server."""
    import requests

    from diep_portal.aws.session import reset_clients

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    settings.AWS_ENDPOINT_URL = moto_server
    settings.AWS_REGION = "us-east-1"
    reset_clients()
    yield moto_server
    reset_clients()


@pytest.fixture
def buckets(aws: str) -> Any:
    """The raw and curated buckets in the moto server; the S3 client."""
    from diep_portal.aws.session import get_client

    s3 = get_client("s3")
    for bucket in ("diep-raw", "diep-curated"):
        s3.create_bucket(Bucket=bucket)
    return s3


@pytest.fixture
def artifacts(aws: str, settings: Any) -> str:
    """The artifacts bucket, where Glue runs get their spec and leave their metrics."""
    from diep_portal.aws.session import get_client

    get_client("s3").create_bucket(Bucket=settings.DIEP_ARTIFACTS_BUCKET)
    return str(settings.DIEP_ARTIFACTS_BUCKET)


@pytest.fixture
def glue_job(artifacts: str) -> str:
    """The Glue job definition our jobs run as (provisioning does this in real life)."""
    from diep_portal.aws.session import get_client

    name = "diep-ingest"
    get_client("glue").create_job(
        Name=name,
        Role="arn:aws:iam::123456789012:role/diep-glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://diep-artifacts/glue_job.py"},
        GlueVersion="4.0",
        MaxRetries=0,
    )
    return name


def _user_in(role: str | None, username: str, **extra: Any) -> Any:
    from django.contrib.auth.models import Group, Permission, User

    from jobs.roles import ensure_roles

    # transaction=True tests flush the tables, taking the migration's groups with them.
    if role and not Group.objects.filter(name=role).exists():
        ensure_roles(Group, Permission)
    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(db: None) -> Any:
    return _user_in("viewer", "vera")


@pytest.fixture
def operator(db: None) -> Any:
    return _user_in("operator", "otto", is_staff=True)


@pytest.fixture
def admin_user(db: None) -> Any:
    return _user_in("admin", "ada", is_staff=True, is_superuser=True)


@pytest.fixture
def nobody(db: None) -> Any:
    """Authenticated, but in no role."""
    return _user_in(None, "nemo")


@pytest.fixture
def client_for() -> Callable[[Any], Any]:
    """An APIClient authenticating with a real knox token for `user`."""
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    def make(user: Any) -> APIClient:
        client = APIClient()
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


@pytest.fixture
def api(client_for: Callable[[Any], Any], operator: Any) -> Any:
    return client_for(operator)


def job_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "orders-daily",
        "description": "Daily orders from the shop",
        "engine": "glue",
        "glue_job_name": "diep-ingest",
        "source": {"uri": "s3://diep-raw/orders/", "format": "csv", "options": {"delimiter": ","}},
        "destination": {
            "uri": "s3://diep-curated/orders/",
            "format": "parquet",
            "partition_by": ["order_date"],
            "mode": "append",
        },
        "transform": {"rename": {"id": "order_id"}},
        "parameters": {"region": "eu", "batch_size": "500"},
        "parameters_schema": {
            "type": "object",
            "properties": {
                "region": {"type": "string", "enum": ["eu", "us"]},
                "batch_size": {"type": "string", "pattern": "^[0-9]+$"},
                "run_date": {"type": "string", "format": "date"},
            },
            "additionalProperties": False,
        },
        "schedule": "cron(0 2 * * ? *)",
        "timezone": "Europe/Berlin",
        "trigger": {
            "bucket": "diep-raw",
            "prefix": "orders/",
            "suffix": ".csv",
            "window_seconds": 60,
            "max_files": 100,
            "max_bytes": 1000000,
        },
        "max_concurrent_runs": 2,
        "timeout_minutes": 30,
        "max_retries": 1,
        "enabled": True,
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_job(db: None) -> Callable[..., Any]:
    """Create a job through the real service from a valid body (with overrides)."""
    from jobs import services
    from jobs.specs import JobSpecSerializer

    def make(**overrides: Any) -> Any:
        spec = JobSpecSerializer(data=job_body(**overrides))
        spec.is_valid(raise_exception=True)
        return services.job_create(spec=spec.validated_data, user=None, source="test")

    return make


def subprocess_database_url() -> str:
    """The test database as a URL for a worker or consumer in another process."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("another process needs a shared server database (PostgreSQL)")
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def no_enqueue(monkeypatch: Any) -> list[str]:
    """Run start/stop tasks are recorded (their run ids) instead of sent to the broker."""
    sent: list[str] = []
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", sent.append)
    monkeypatch.setattr("jobs.runs.tasks.run_stop.delay", sent.append)
    return sent


@pytest.fixture
def admin_browser(admin_user: Any) -> Any:
    """A Django test client logged in to the admin as a superuser."""
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def one_glue_client(monkeypatch: Any) -> Any:
    """StartJobRun's no-retry Glue client made the same object as the usual one, so one
    botocore Stubber on `get_client("glue")` sees every Glue call."""
    from diep_portal.aws import session

    client = session.get_client("glue")
    monkeypatch.setitem(session._clients, "glue:once", client)
    return client


class Receiver:
    """An HTTP server on a free local port recording the JSON bodies POSTed to it and
    answering with `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.location = ""  # with a 3xx status: where it redirects to
        self.delay = 0.0  # seconds to wait before answering (a slow receiver)
        self.on_request: Callable[[], None] = lambda: None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.on_request()
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(settings: Any, monkeypatch: Any) -> Iterator[Receiver]:
    """The alert webhook "ops", with alert deliveries sent at once."""
    from jobs import alerts

    hook = Receiver()
    settings.DIEP_ALERT_WEBHOOKS = {"ops": hook.url}
    # Deliveries run when the alert commits; here at once.
    monkeypatch.setattr("jobs.tasks.deliver_alerts.delay", lambda: alerts.deliver_due())
    yield hook
    hook.server.shutdown()


# Buckets the tests' jobs read and write: granted to everyone (read and write) in every
# test that reaches the database, as a deployment's admins would grant its own buckets.
# Tests of the data-location rules themselves remove or replace these grants.
TEST_BUCKETS = (
    "diep-raw",
    "diep-curated",
    "diep-eu",
    "partner-drop",
    "raw-data",
    "raw",
    "raw-bucket",
    "raw-bench",
    "cur",
    "cur-bucket",
    "cur-bench",
    "curated",
    "a",
    "b",
    "x",
    "bucket",
    "ok-bucket",
)


@pytest.fixture(autouse=True)
def data_grants(request: pytest.FixtureRequest) -> None:
    uses_db = request.node.get_closest_marker("django_db") is not None
    for fixture in ("transactional_db", "db"):
        if fixture in request.fixturenames:
            request.getfixturevalue(fixture)
            uses_db = True
            break
    if not uses_db:
        return
    from jobs.models import DataGrant

    for bucket in TEST_BUCKETS:
        DataGrant.objects.get_or_create(
            team="", bucket=bucket, prefix="", defaults={"can_read": True, "can_write": True}
        )
