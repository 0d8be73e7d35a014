"""Schedule expressions: 5-field cron, EventBridge cron(...) and rate(...).

Pure (no Django). Everything is normalised to a 5-field cron or `rate(N unit)` so
Beat and the UI deal with one form. Cron is evaluated in the job's IANA timezone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MAX_EXPRESSION_LENGTH = 256
_RATE_RE = re.compile(r"^rate\(\s*(\d{1,9})\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON_RE = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MAX_RATE_SECONDS = 10 * 366 * 86400


class ScheduleError(ValueError):
    """The expression is not a schedule we accept; the message says why."""


@dataclass(frozen=True)
class Schedule:
    kind: Literal["cron", "rate"]
    expression: str
    rate_seconds: int | None = None

    def next_fire_times(self, *, after: datetime, tz: str, count: int = 5) -> list[datetime]:
        """The next `count` fire times after `after`, as aware UTC datetimes."""
        utc = ZoneInfo("UTC")
        if self.rate_seconds is not None:
            step = timedelta(seconds=self.rate_seconds)
            return [(after + step * (n + 1)).astimezone(utc) for n in range(count)]
        start = after.astimezone(ZoneInfo(validate_timezone(tz)))
        iterator = croniter(self.expression, start)
        return [iterator.get_next(datetime).astimezone(utc) for _ in range(count)]

    def describe(self) -> str:
        """Human text: cron-descriptor for cron, "Every N units" for rate."""
        if self.rate_seconds is not None:
            return "Every " + self.expression[len("rate(") : -1]
        from cron_descriptor import get_description

        try:
            return str(get_description(self.expression))
        except Exception:  # noqa: BLE001 - description is cosmetic; never fail a page on it
            return self.expression


def validate_timezone(tz: str) -> str:
    """`tz` if it is a known IANA timezone name."""
    if not isinstance(tz, str) or not tz or len(tz) > 64 or ".." in tz or tz.startswith("/"):
        raise ScheduleError(
            f"Unknown timezone {str(tz)[:64]!r}; use an IANA name like Europe/Berlin."
        )
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"Unknown timezone {tz!r}; use an IANA name like Europe/Berlin."
        ) from None
    return tz


def _parse_rate(expression: str) -> Schedule:
    match = _RATE_RE.match(expression)
    if not match:
        raise ScheduleError(
            "A rate is written rate(N minutes|hours|days), e.g. rate(5 minutes) or rate(1 hour)."
        )
    value, unit = int(match.group(1)), match.group(2)
    singular = unit.rstrip("s")
    if value < 1:
        raise ScheduleError("A rate must be at least 1.")
    if (value == 1) != (unit == singular):
        raise ScheduleError(
            f"Write rate(1 {singular}) for one and rate(N {singular}s) for more, "
            "as EventBridge does."
        )
    seconds = value * _UNIT_SECONDS[singular]
    if seconds > _MAX_RATE_SECONDS:
        raise ScheduleError("A rate longer than ten years is not a schedule.")
    return Schedule(kind="rate", expression=f"rate({value} {unit})", rate_seconds=seconds)


def _shift_weekday_numbers(field: str) -> str:
    """EventBridge numbers weekdays 1-7 from Sunday; cron numbers them 0-6."""

    def shift(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if not 1 <= number <= 7:
            raise ScheduleError(f"EventBridge day-of-week numbers run 1-7 (SUN-SAT); got {number}.")
        return str(number - 1)

    # Numbers before `#` (6#3) and `L` (6L) are weekdays; the one after `#` is the nth.
    parts = re.split(r"(#\d+)", field)
    return "".join(part if part.startswith("#") else re.sub(r"\d+", shift, part) for part in parts)


def _parse_eventbridge_cron(inner: str) -> str:
    fields = inner.split()
    if len(fields) != 6:
        raise ScheduleError(
            "EventBridge cron has six fields: cron(minutes hours day-of-month month "
            f"day-of-week year); got {len(fields)}."
        )
    minute, hour, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            "EventBridge cron needs '?' in exactly one of day-of-month and day-of-week."
        )
    if year not in {"*", "?"}:
        raise ScheduleError("Year restrictions are not supported; use * for the year.")
    day_of_month = "*" if day_of_month == "?" else day_of_month
    day_of_week = "*" if day_of_week == "?" else _shift_weekday_numbers(day_of_week)
    return f"{minute} {hour} {day_of_month} {month} {day_of_week}"


def parse_schedule(expression: str) -> Schedule:
    """Validate and normalise a schedule expression; ScheduleError says why not."""
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError("The schedule is empty.")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ScheduleError(f"A schedule is at most {MAX_EXPRESSION_LENGTH} characters.")
    text = " ".join(expression.split())
    if text.startswith("rate("):
        return _parse_rate(text)
    if match := _CRON_RE.match(text):
        cron = _parse_eventbridge_cron(match.group(1))
    else:
        fields = text.split()
        if len(fields) != 5:
            raise ScheduleError(
                "Expected a 5-field cron (minute hour day-of-month month day-of-week), "
                "cron(...) with six EventBridge fields, or rate(...); "
                f"got {len(fields)} fields (seconds are not supported)."
            )
        cron = text
    try:
        valid = croniter.is_valid(cron)
    except Exception:  # noqa: BLE001 - croniter raises assorted types on odd input
        valid = False
    if not valid:
        raise ScheduleError(f"{cron!r} is not a valid cron expression.")
    return Schedule(kind="cron", expression=cron)
