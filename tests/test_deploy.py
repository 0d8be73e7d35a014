"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine runs
here): the file parses, every service's command exists, every variable the app
services set is one DIEP reads, images are pinned, the image is slim and non-root."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import get_commands

from diep_portal.celery import Queue

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("migrate", "web", "worker", "etl", "alerts", "beat", "consumer")
# Read by libraries rather than by our settings: boto3's credential chain, and
# prometheus_client's multi-process mode (also read in diep_portal/observability.py).
LIBRARY_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def variables_diep_reads() -> set[str]:
    names: set[str] = set()
    pattern = re.compile(
        r"""(?:env(?:\.\w+)?\(|os\.environ(?:\.get)?[(\[]|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']"""
    )
    for folder in ("diep_portal", "jobs", "ingestion"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(pattern.findall(path.read_text()))
    return names


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_services_and_their_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {"postgres", "redis", "moto", "migrate", "web", "worker", "etl", "alerts"}
    assert set(services) == expected | {"beat", "consumer", "flower"}
    for name in ("postgres", "redis", "moto", "web", "worker", "etl", "alerts", "flower"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "etl", "alerts", "beat", "consumer"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["image"] == "diep-portal:local"  # the one shared anchor
    assert services["beat"]["deploy"]["replicas"] == 1


def queues_of(service: dict[str, Any]) -> set[str]:
    words = command_of(service)
    return set(words[words.index("-Q") + 1].split(",")) if "-Q" in words else set()


def test_slow_work_has_workers_of_its_own(compose: dict[str, Any]) -> None:
    """A slow webhook receiver or a minutes-long local ETL run must never hold the slot
    a run start or the one-second schedule tick is waiting for."""
    services = compose["services"]
    served = {name: queues_of(services[name]) for name in ("worker", "etl", "alerts")}
    assert served["worker"] == {Queue.RUNS.value, Queue.MAINTENANCE.value}
    assert served["etl"] == {Queue.ETL.value}
    assert served["alerts"] == {Queue.ALERTS.value}
    assert set().union(*served.values()) == {queue.value for queue in Queue}


def test_every_command_exists(compose: dict[str, Any]) -> None:
    management = get_commands()
    queues = {queue.value for queue in Queue}
    for name in APP_SERVICES:
        words = command_of(compose["services"][name])
        if words[:2] == ["sh", "-c"]:
            steps = [shlex.split(step) for step in words[2].split("&&")]
        else:
            steps = [words]
        for step in steps:
            if step[:2] == ["python", "manage.py"]:
                assert step[2] in management, f"{name}: no management command {step[2]}"
            elif step[0] == "celery":
                assert step[1:3] == ["-A", "diep_portal"]
                assert step[3] in {"worker", "beat"}
                if "-Q" in step:
                    assert set(step[step.index("-Q") + 1].split(",")) <= queues
            else:
                assert step[0] == "gunicorn", f"{name}: unexpected program {step[0]}"
                assert step[1] == "diep_portal.wsgi:application"
    requirements = (ROOT / "requirements.txt").read_text().lower()
    assert "gunicorn==" in requirements
    assert "celery[redis]==" in requirements


def test_every_variable_set_is_read_by_diep(compose: dict[str, Any]) -> None:
    known = variables_diep_reads() | LIBRARY_VARIABLES
    for name in APP_SERVICES:
        environment = compose["services"][name].get("environment", {})
        unknown = set(environment) - known
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert documented - known - {"POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"} == set()


def test_flower_needs_a_password_and_listens_on_this_machine_only(
    compose: dict[str, Any],
) -> None:
    flower = compose["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert all(str(port).startswith("127.0.0.1:") for port in flower["ports"])


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image", "")
        if name in APP_SERVICES:
            assert service.get("build") == "."
            continue
        tag = image.partition(":")[2]
        assert tag, f"{name}: {image} has no tag"
        assert tag != "latest"
        assert re.match(r"^\d+\.\d+(\.\d+)?", tag), f"{name}: {image} is not a version"


def test_dockerfile_base_user_and_layers() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    base = next(line for line in lines if line.startswith("FROM "))
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim(-\w+)?", base), base
    user = [line for line in lines if line.startswith("USER ")]
    assert user
    assert user[-1].split()[1] not in {"root", "0"}
    text = "\n".join(lines)
    assert text.index("COPY requirements.txt") < text.index("pip install") < text.index("COPY . .")
    assert "collectstatic --noinput" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "var"} <= set(ignored)


def test_the_readme_documents_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in variables_diep_reads() if f"`{name}`" not in readme)
    assert missing == []
