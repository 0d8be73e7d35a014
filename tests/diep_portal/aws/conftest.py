"""Fixtures for the AWS hook tests: settings, moto in-process, a stubbed Glue client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from diep_portal.aws.session import reset_clients


@pytest.fixture
def aws_settings(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Settings for the hooks (no endpoint: mock_aws intercepts real-AWS URLs), fake
    credentials, and no cached clients before or after."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings.AWS_REGION = "us-east-1"
    settings.AWS_ENDPOINT_URL = None
    settings.AWS_CONNECT_TIMEOUT = 2.0
    settings.AWS_READ_TIMEOUT = 5.0
    settings.AWS_MAX_ATTEMPTS = 0
    settings.AWS_RETRY_MODE = "standard"
    reset_clients()
    yield settings
    reset_clients()


@pytest.fixture
def moto_aws(aws_settings: Any) -> Iterator[None]:
    """moto in-process for every service (hook tests only, DESIGN.md §5)."""
    with mock_aws():
        yield


@pytest.fixture
def moto_glue(moto_aws: None) -> None:
    """moto in-process, for the Glue hook tests."""


@pytest.fixture
def glue_stub(aws_settings: Any, one_glue_client: Any) -> Iterator[Stubber]:
    """The hooks' own cached Glue client with every call stubbed; an unexpected call
    or a queued response left unused fails the test."""
    with Stubber(one_glue_client) as stub:
        yield stub
        stub.assert_no_pending_responses()
