"""Texts from elsewhere made storable: escapes for what PostgreSQL refuses, a cut mark."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from diep_portal.text import storable_text


def test_nuls_and_lone_surrogates_become_escapes_and_long_texts_are_cut() -> None:
    assert storable_text("row 2: e\x00u") == "row 2: e\\x00u"
    assert storable_text("key \ud800!") == "key \\ud800!"
    assert storable_text("émoji 😀") == "émoji 😀"
    cut = storable_text("x" * 50, limit=20)
    assert len(cut) == 20
    assert cut.endswith(" …(cut)")


@given(st.text(), st.integers(min_value=20, max_value=200))
def test_whatever_comes_in_can_be_stored(text: str, limit: int) -> None:
    stored = storable_text(text, limit)
    stored.encode("utf-8")
    assert "\x00" not in stored
    assert len(stored) <= limit
