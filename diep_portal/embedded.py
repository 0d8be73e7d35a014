"""The embedded stack: one command from a fresh checkout to a running portal.

`python -m diep_portal.embedded` migrates, creates the admin user and an API token,
then hands over to honcho, which runs the Procfile: the local AWS (a moto server),
the web server and a Celery worker. The `aws` and `web` sub-commands are the Procfile's
entries. Pointing DATABASE_URL, CELERY_BROKER_URL or AWS_ENDPOINT_URL elsewhere is
honoured: the local AWS only starts when no endpoint is configured and
DIEP_EMBEDDED_AWS is not false.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
MOTO_PORT = int(os.environ.get("DIEP_MOTO_PORT", "5055"))
WEB_PORT = int(os.environ.get("DIEP_PORT", "8000"))
DEMO_JOB = "demo-orders"


def _configure_environment() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diep_portal.settings")
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


def setup_and_start() -> None:
    """Migrate, make sure an admin and a token exist, then run the Procfile with honcho."""
    _configure_environment()
    _django()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from knox.models import AuthToken

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    admin = User.objects.filter(username="admin").first()
    if admin is None:
        password = os.environ.get("DIEP_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        admin = User.objects.create_superuser("admin", password=password)
        admin.groups.add(Group.objects.get(name="admin"))
        if not os.environ.get("DIEP_ADMIN_PASSWORD"):
            print(f"\n  Admin user 'admin' created with password: {password}  (shown once)")
    _, token = AuthToken.objects.create(user=admin)
    print(f"\n  Admin:     http://127.0.0.1:{WEB_PORT}/admin/")
    print(f"  API docs:  http://127.0.0.1:{WEB_PORT}/api/docs/")
    print(f"  API token: {token}")
    print(
        f"  Try:       curl -X POST -H 'Authorization: Token {token}' "
        f"http://127.0.0.1:{WEB_PORT}/fire_job/{DEMO_JOB}\n"
    )
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
    os.chdir(ROOT)
    os.execvpe(honcho, [honcho, "-f", str(ROOT / "Procfile"), "start"], dict(os.environ))


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
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise SystemExit(f"The local AWS endpoint {endpoint} did not come up.")


def _seed_demo() -> None:
    """A Glue job definition in the local AWS and a demo job fired once."""
    from django.conf import settings

    from diep_portal.aws.glue import glue_create_job, glue_get_job
    from jobs import metadata, services
    from jobs.models import Job
    from jobs.specs import JobSpecSerializer

    if glue_get_job(job_name=settings.DIEP_DEFAULT_GLUE_JOB_NAME) is None:
        glue_create_job(
            name=settings.DIEP_DEFAULT_GLUE_JOB_NAME,
            role="arn:aws:iam::123456789012:role/diep-glue",
            script_location="s3://diep-artifacts/glue_job.py",
            default_arguments={},
            glue_version="4.0",
            worker_type="G.1X",
            number_of_workers=2,
            max_concurrent_runs=5,
        )
    metadata.mirror_ensure_tables()
    job = Job.objects.filter(name=DEMO_JOB).first()
    if job is None:
        spec = JobSpecSerializer(
            data={
                "name": DEMO_JOB,
                "description": "Demo: orders CSV to partitioned Parquet.",
                "source": {"uri": "s3://diep-raw/orders/", "format": "csv"},
                "destination": {"uri": "s3://diep-curated/orders/", "partition_by": ["order_date"]},
                "parameters": {"region": "eu"},
                "parameters_schema": {
                    "type": "object",
                    "properties": {"region": {"enum": ["eu", "us"]}},
                },
                "max_concurrent_runs": 2,
            }
        )
        spec.is_valid(raise_exception=True)
        job = services.job_create(spec=spec.validated_data, user=None, source="cli")
    if not job.runs.exists():
        run = services.job_fire(job=job, parameters={}, trigger="cli").run
        print(f"demo run {run.run_id} requested", flush=True)


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
