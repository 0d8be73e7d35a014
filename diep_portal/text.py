"""Text from elsewhere (an engine's error, a Glue message, an exception) made storable."""

from __future__ import annotations

MAX_ERROR_CHARS = 10_000
_CUT = " …(cut)"


def storable_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` as PostgreSQL can store it and a page can show it: NULs and lone surrogates
    written as escapes (a CSV error quoting its row holds whatever the row held), cut to
    `limit` characters with a mark that it was cut."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        text = text[: limit - len(_CUT)] + _CUT
    return text
