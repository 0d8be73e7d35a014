"""Admin login throttling (django-axes): repeated failures lock out that username from
that address, the right password included, without locking the user out elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import _user_in

pytestmark = pytest.mark.django_db


def attempt(client: Client, password: str, username: str = "ada2") -> Any:
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_failed_logins_lock_out_the_username_from_that_address(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    _user_in("admin", "ada2", is_staff=True)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(2):
        assert attempt(attacker, "guess").status_code == 200  # the form again, with an error
    assert attempt(attacker, "guess").status_code == 429
    locked = attempt(attacker, "pw-ada2")  # the right password no longer helps from there
    assert locked.status_code == 429
    assert "_auth_user_id" not in attacker.session

    elsewhere = Client(REMOTE_ADDR="198.51.100.1")
    assert attempt(elsewhere, "pw-ada2").status_code == 302  # the user is not locked out
    assert "_auth_user_id" in elsewhere.session
