"""The embedded stack: one command from a fresh checkout to a running portal.

`python -m diep_portal.embedded` migrates, creates the admin user and an API token,
then hands over to honcho, which runs the Procfile: the local AWS (a moto server), the
web server, Celery workers, Beat and the event consumer. The `aws` and `web`
sub-commands are the Procfile's entries; `web` provisions the local AWS and seeds a
demo job with sample files, which the consumer and the ETL worker turn into Parquet
within a minute. Pointing DATABASE_URL, CELERY_BROKER_URL or AWS_ENDPOINT_URL
elsewhere is honoured: the local AWS only starts when no endpoint is configured and
DIEP_EMBEDDED_AWS is not false.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
MOTO_PORT = int(os.environ.get("DIEP_MOTO_PORT", "5055"))
WEB_PORT = int(os.environ.get("DIEP_PORT", "8000"))
DEMO_JOB = "demo-orders"


def _configure_environment() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diep_portal.settings")
    os.environ.setdefault("DIEP_LOG_FORMAT", "plain")  # a terminal, read by a person
    embedded_aws = os.environ.get("DIEP_EMBEDDED_AWS", "true").lower() != "false"
    if embedded_aws and not os.environ.get("AWS_ENDPOINT_URL"):
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{MOTO_PORT}"
        os.environ["DIEP_EMBEDDED_AWS_ACTIVE"] = "true"
        # The moto server accepts any credentials; real ones are never needed locally.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _django() -> None:
    import django

    django.setup()


def _stored_token(user: Any, path: Path) -> str:
    """The admin's API token kept in the data folder, made once and reused while valid:
    a new token per start would leave the old ones valid for their whole lifetime.

    Only the owner can read the file (knox keeps only a digest, so the plain token must
    live somewhere for the banner to show it again). An expired or revoked token is
    replaced, and the previous one deleted.
    """
    from knox.auth import TokenAuthentication
    from knox.models import AuthToken
    from knox.settings import CONSTANTS
    from rest_framework.exceptions import AuthenticationFailed

    if path.is_file():
        stored = path.read_text().strip()
        try:
            owner, _ = TokenAuthentication().authenticate_credentials(stored.encode())
        except AuthenticationFailed:
            # Expired ones knox deletes itself; a stored one that no longer authenticates
            # (revoked, expired) goes here, whatever is left of it.
            AuthToken.objects.filter(
                token_key=stored[: CONSTANTS.TOKEN_KEY_LENGTH], user=user
            ).delete()
        else:
            if owner.pk == user.pk:
                return stored
    _, token = AuthToken.objects.create(user=user)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(token + "\n")
    return token


def setup_and_start() -> None:
    """Migrate, make sure an admin and a token exist, then run the Procfile with honcho."""
    _configure_environment()
    _django()
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    admin = User.objects.filter(username="admin").first()
    if admin is None:
        password = os.environ.get("DIEP_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        admin = User.objects.create_superuser("admin", password=password)
        admin.groups.add(Group.objects.get(name="admin"))
        if not os.environ.get("DIEP_ADMIN_PASSWORD"):
            print(f"\n  Admin user 'admin' created with password: {password}  (shown once)")
    token = _stored_token(admin, Path(settings.DATA_DIR) / "api-token")
    print(f"\n  Admin:     http://127.0.0.1:{WEB_PORT}/admin/")
    print(f"  API docs:  http://127.0.0.1:{WEB_PORT}/api/docs/")
    print(f"  API token: {token}")
    print(
        f"  Try:       curl -X POST -H 'Authorization: Token {token}' "
        f"http://127.0.0.1:{WEB_PORT}/fire_job/{DEMO_JOB}\n"
        f"  The demo job {DEMO_JOB!r} ingests sample files within a minute: see its runs "
        f"at http://127.0.0.1:{WEB_PORT}/admin/jobs/jobrun/\n"
    )
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
    os.chdir(ROOT)
    # The Procfile says `python`: this interpreter (the virtualenv's), whatever PATH was.
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment["PATH"]])
    os.execvpe(honcho, [honcho, "-f", str(ROOT / "Procfile"), "start"], environment)


def run_local_aws() -> None:
    """The Procfile's `aws` entry: a moto server, or idle when AWS is elsewhere."""
    _configure_environment()
    if os.environ.get("DIEP_EMBEDDED_AWS_ACTIVE") != "true":
        while True:  # honcho stops the stack when an entry exits
            time.sleep(3600)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=MOTO_PORT, verbose=False)
    server.start()
    print(f"local AWS (moto) on http://127.0.0.1:{MOTO_PORT}", flush=True)
    while True:
        time.sleep(3600)


def _wait_for_aws(endpoint: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(endpoint, timeout=1)
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
            time.sleep(0.3)
        else:
            return
    raise SystemExit(f"The local AWS endpoint {endpoint} did not come up.")


DEMO_FILES = {
    "orders/2026-11-27/shop eu.csv": "id,order_date,region,amount\n1,2026-11-27,eu,19.90\n"
    "2,2026-11-27,eu,5.00\n3,2026-11-27,us,12.50\n",
    "orders/2026-11-28/shop été.csv": "id,order_date,region,amount\n4,2026-11-28,eu,7.25\n"
    "5,2026-11-28,us,n/a\n6,2026-11-28,us,42.00\n",
}


def _seed_demo() -> None:
    """The demo job (local engine, S3 trigger), the infrastructure it needs in the local
    AWS (`manage.py provision`), and sample files, whose events the consumer turns into
    a run that writes Parquet. Nothing is redone on a second start."""
    from django.conf import settings
    from django.core.management import call_command

    from diep_portal.aws.session import get_client
    from jobs import services
    from jobs.grants import GrantSpec, grant_save
    from jobs.models import DataGrant, Job
    from jobs.specs import JobSpecSerializer

    # The local buckets, granted to every team: read the raw one, write the curated one.
    for bucket, read, write in (
        (settings.DIEP_RAW_BUCKET, True, False),
        (settings.DIEP_CURATED_BUCKET, False, True),
    ):
        if not DataGrant.objects.filter(team="", bucket=bucket, prefix="").exists():
            grant_save(GrantSpec("", bucket, "", read, write, "embedded stack"), user=None)
    if not Job.objects.filter(name=DEMO_JOB).exists():
        spec = JobSpecSerializer(
            data={
                "name": DEMO_JOB,
                "description": "Demo: order CSVs landing in the raw bucket, as Parquet "
                "partitioned by day in the curated bucket.",
                "engine": "local",
                "source": {"uri": f"s3://{settings.DIEP_RAW_BUCKET}/orders/", "format": "csv"},
                "destination": {
                    "uri": f"s3://{settings.DIEP_CURATED_BUCKET}/orders/",
                    "partition_by": ["order_date"],
                },
                "transform": {
                    "rename": {"id": "order_id"},
                    "cast": {
                        "order_id": "int",
                        "amount": {"type": "decimal", "precision": 12, "scale": 2},
                        "order_date": "date",
                    },
                    "metadata": ["ingested_at", "source_file"],
                    "checks": [{"type": "not_null", "columns": ["order_id"]}],
                },
                "trigger": {
                    "bucket": settings.DIEP_RAW_BUCKET,
                    "prefix": "orders/",
                    "suffix": ".csv",
                    "window_seconds": 5,
                },
                "max_concurrent_runs": 2,
            }
        )
        spec.is_valid(raise_exception=True)
        services.job_create(spec=spec.validated_data, user=None, source="cli")
    call_command("provision")
    s3 = get_client("s3")
    for key, body in DEMO_FILES.items():
        listed = s3.list_objects_v2(Bucket=settings.DIEP_RAW_BUCKET, Prefix=key)
        if not listed.get("KeyCount"):
            s3.put_object(Bucket=settings.DIEP_RAW_BUCKET, Key=key, Body=body.encode())
            print(f"demo file s3://{settings.DIEP_RAW_BUCKET}/{key} uploaded", flush=True)


def run_web() -> None:
    """The Procfile's `web` entry: seed the local AWS and demo job, then serve."""
    _configure_environment()
    _django()
    if os.environ.get("DIEP_EMBEDDED_AWS_ACTIVE") == "true":
        _wait_for_aws(os.environ["AWS_ENDPOINT_URL"])
        _seed_demo()
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "diep_portal.wsgi:application",
        "-b",
        f"127.0.0.1:{WEB_PORT}",
        "-w",
        "2",
        "--access-logfile",
        "-",
    ]
    os.execvpe(sys.executable, gunicorn, dict(os.environ))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    {"start": setup_and_start, "aws": run_local_aws, "web": run_web}[command]()
