"""Schemathesis against the OpenAPI schema the API publishes: every operation fuzzed,
NULs and lone surrogates in strings included, as an operator, as a viewer and as an
operator of a second team while team A's job, run and file exist (authorization
fuzzing); no 5xx, responses as documented (status codes, bodies, content types), and
nothing of team A's changed by the others."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
# No 5xx; every status, body, content type and header as documented. (Not "every request
# the schema allows is accepted": the schema cannot say that a filter wants a UUID.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
# Also for the examples schemathesis derives itself (coverage phase).
schema.config.checks.update(included_check_names=[check.__name__ for check in CHECKS])


# NULs in generated strings (schemathesis' default, stated: the property this suite holds).
schema.config.generation.update(allow_x00=True)


@schema.hook
def flatmap_case(context: Any, case: Any) -> st.SearchStrategy[Any]:
    """Schemathesis never generates lone surrogates (they cannot be UTF-8 on the wire), but
    JSON can carry them as `\\ud800` escapes; so some JSON bodies get one in a string or a
    key, which the API must refuse with a 400 like any other bad text."""
    if case.media_type != "application/json":
        return st.just(case)
    places = list(_string_places(case.body))
    if not places:
        return st.just(case)
    surrogates = st.integers(0xD800, 0xDFFF).map(chr)
    return st.one_of(
        st.just(case),
        st.tuples(st.sampled_from(places), surrogates).map(
            lambda chosen: _with_body(case, _inject(case.body, *chosen))
        ),
    )


def _string_places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every string of a JSON value: ("key", name) ends at a key, else a value."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, ("key", key))
            yield from _string_places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_places(item, (*path, index))


def _inject(value: Any, path: tuple[Any, ...], surrogate: str) -> Any:
    if not path:
        return value + surrogate
    step, rest = path[0], path[1:]
    if isinstance(step, tuple):  # rename this key
        return {(key + surrogate if key == step[1] else key): item for key, item in value.items()}
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[step] = _inject(value[step], rest, surrogate)
    return copy


def _with_body(case: Any, body: Any) -> Any:
    # A new case: the one drawn from stays as generated for the other draws.
    return case.operation.Case(
        method=case.method,
        path_parameters=case.path_parameters,
        headers=case.headers,
        cookies=case.cookies,
        query=case.query,
        body=body,
        media_type=case.media_type,
        _meta=copy.deepcopy(case._meta),
    )


@pytest.fixture(params=["operator", "viewer", "other team's operator"])
def auth(
    request: Any, aws: str, settings: Any, make_job: Any, no_enqueue: Any
) -> Iterator[dict[str, str]]:
    from django.contrib.auth.models import Group
    from knox.models import AuthToken

    from diep_portal.aws.session import get_client
    from jobs import services
    from tests.conftest import _user_in

    get_client("s3").create_bucket(Bucket=settings.DIEP_ARTIFACTS_BUCKET)
    team_a, team_b = Group.objects.create(name="team-a"), Group.objects.create(name="team-b")
    job = make_job(name="team-a-job", team="team-a")
    services.job_fire(job=job, parameters={}, trigger="api")
    role, team = {
        "operator": ("operator", team_a),
        "viewer": ("viewer", team_a),
        "other team's operator": ("operator", team_b),
    }[request.param]
    user = _user_in(role, f"fuzz-{role}-{team.name}", is_staff=True)
    user.groups.add(team)
    _, token = AuthToken.objects.create(user=user)
    yield {"Authorization": f"Token {token}"}
    if request.param != "operator":  # the others may not change team A's job or runs
        job.refresh_from_db()
        assert (job.version, job.enabled) == (1, True)
        assert job.runs.count() == 1


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    # The same examples on every run: CI is reproducible; widen max_examples to explore.
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(
    case: Any, live_server: Any, auth: dict[str, str], no_enqueue: Any
) -> None:
    case.call_and_validate(base_url=live_server.url, headers=auth)
