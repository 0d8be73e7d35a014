"""Schedule expressions: 5-field cron, EventBridge ``cron(...)`` and ``rate(...)``.

Pure (no Django, no DB) so the API, the admin, the scheduler tick and management
commands all validate and preview schedules the same way.

Everything is normalised to one of two stored forms, so the rest of DIEP deals
with exactly one cron dialect:

* ``"m h dom mon dow"`` — croniter syntax, upper case, ``?`` replaced by ``*``,
  ``a/n`` steps rewritten to the portable ``*/n`` / ``a-max/n`` forms, and the
  last-weekday-of-month form written ``L5`` (croniter rejects ``5L``).
* ``"rate(N unit)"`` — EventBridge spelling (``rate(1 hour)``, ``rate(5 minutes)``).

Cron is evaluated in the job's IANA timezone. Around DST changes croniter's
behaviour is kept with one correction (see ``Schedule.next_fire_times``).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import get_description
from cron_descriptor.Exception import (
    FormatException,
    MissingFieldException,
    WrongArgumentException,
)
from croniter import croniter

MAX_EXPRESSION_LENGTH = 256
# A preview is for humans and the due-check needs one or two; the cap only stops
# a caller from asking for millions of croniter iterations in a request.
MAX_PREVIEW_COUNT = 1000

_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# Ten years of days keeps after + count * rate far from datetime's year-9999
# ceiling for any realistic `after`, and nobody means "every 11 years".
_MAX_RATE_SECONDS = 3650 * 86400

_WEEKDAY_NUMBERS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
# (minimum, maximum) of the fields whose `a/n` steps are rewritten. Day-of-week is
# left alone: whether 7 (a second Sunday) belongs to its range is dialect-specific.
_STEP_BOUNDS = {0: (0, 59), 1: (0, 23), 2: (1, 31), 3: (1, 12)}
_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
# Zone keys that exist on disk but are not places: `localtime` follows the host's
# clock (so a job would change behaviour with the server), `Factory` is a
# placeholder zone whose abbreviation is "-00".
_NON_ZONES = frozenset({"localtime", "Factory", "posixrules"})
# croniter's hashed (H) and random (R) forms would give each evaluation a
# different answer without a stable hash id; month and day names (THU, MAR) also
# contain those letters, so only a standalone H/R token counts.
_HASH_OR_RANDOM_RE = re.compile(r"(?<![A-Z])[HR](?![A-Z])")
_LAST_WEEKDAY_RE = re.compile(r"^([0-7]|SUN|MON|TUE|WED|THU|FRI|SAT)L$")
_BARE_STEP_RE = re.compile(r"^(\d+)/(\d+)$")
_CRONITER_PREFIX_RE = re.compile(r"^\[[^\]]*\]\s*")


# A job that was down for a week on a one-minute schedule does not fire 10,080 runs.
MAX_CATCH_UP_TICKS = 100


class ScheduleError(ValueError):
    """The expression (or timezone) is not one we accept; the message says why."""


@dataclass(frozen=True)
class Schedule:
    """A validated, normalised schedule; build it with `parse_schedule`."""

    kind: Literal["cron", "rate"]
    expression: str
    rate_seconds: int | None = None

    def __post_init__(self) -> None:
        # Rows rebuilt from the DB by hand must not yield a rate without a period
        # (an endless preview loop) or a cron that silently ignores its rate.
        if self.kind == "rate" and (self.rate_seconds is None or self.rate_seconds < 60):
            raise ScheduleError("A rate schedule needs rate_seconds of at least 60.")
        if self.kind == "cron" and self.rate_seconds is not None:
            raise ScheduleError("A cron schedule has no rate_seconds.")

    def next_fire_times(self, *, after: datetime, tz: str, count: int = 5) -> list[datetime]:
        """Return the next `count` fire times strictly after `after`, as aware UTC datetimes.

        Rate schedules are anchored at `after`: ``after + k * rate`` for k = 1..count,
        measured in real elapsed time, so DST never stretches or shrinks a period.

        Cron schedules are evaluated on the wall clock of the IANA zone `tz`:

        * spring forward — for a pinned hour, the times inside the skipped hour
          collapse into one fire right after the jump (``30 2 * * *`` in
          Europe/Berlin on 2026-03-29 fires at 03:00 CEST = 01:00 UTC); schedules
          with a wildcard hour simply have no occurrences in the missing hour
          (croniter's behaviour, kept as is);
        * fall back — croniter yields a repeated wall time twice. A schedule whose
          hour field is pinned (not ``*``/``*/n``) keeps only the first one, so a
          daily 02:30 job runs once, not twice; wildcard-hour schedules keep both,
          since both are real, distinct hours. This is Vixie cron's rule.

        Fewer than `count` times come back only when the calendar runs out
        (year 9999). Raises ScheduleError for an unknown timezone or a malformed
        cron expression, ValueError for a naive `after` or a `count` outside
        0..MAX_PREVIEW_COUNT.
        """
        if after.tzinfo is None or after.utcoffset() is None:
            # A naive datetime would be read in the server's local zone, which is
            # exactly the kind of silent shift this module exists to prevent.
            raise ValueError("`after` must be a timezone-aware datetime.")
        if not 0 <= count <= MAX_PREVIEW_COUNT:
            raise ValueError(f"`count` must be between 0 and {MAX_PREVIEW_COUNT}.")
        zone = ZoneInfo(validate_timezone(tz))
        start = after.astimezone(UTC)
        if self.kind == "rate":
            assert self.rate_seconds is not None  # guaranteed by __post_init__
            return _rate_fire_times(start, timedelta(seconds=self.rate_seconds), count)
        return _cron_fire_times(self.expression, start, zone, count)

    def describe(self) -> str:
        """Return human text: "Every 5 minutes", "At 02:30 AM, Monday through Friday".

        The description is cosmetic, so if cron-descriptor cannot phrase an
        expression croniter accepted, the expression itself is returned rather
        than failing the page that shows it.
        """
        if self.kind == "rate":
            value, unit = self.expression[len("rate(") : -1].split()
            return f"Every {unit}" if value == "1" else f"Every {value} {unit}"
        try:
            return str(get_description(self.expression))
        except (
            FormatException,
            MissingFieldException,
            WrongArgumentException,
            ValueError,
            IndexError,
            KeyError,
        ):
            return self.expression


def parse_schedule(expression: str) -> Schedule:
    """Validate and normalise a schedule expression.

    Accepts a 5-field cron, an EventBridge ``cron(m h dom mon dow year)`` or an
    EventBridge ``rate(N minutes|hours|days)``. Raises ScheduleError with a
    human-readable reason for anything else.
    """
    if not isinstance(expression, str):
        raise ScheduleError("A schedule must be text.")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ScheduleError(f"A schedule is at most {MAX_EXPRESSION_LENGTH} characters.")
    if not expression.isascii():
        # croniter matches ASCII only and int() would happily read fullwidth digits; refuse
        # look-alike digits and exotic spaces up front with a clear reason.
        raise ScheduleError("A schedule may only contain ASCII characters.")
    text = " ".join(expression.split())
    if not text:
        raise ScheduleError("The schedule is empty.")
    lowered = text.lower()
    if lowered.startswith("rate(") and text.endswith(")"):
        return _parse_rate(text[len("rate(") : -1])
    if lowered.startswith("cron(") and text.endswith(")"):
        fields = _eventbridge_to_cron_fields(text[len("cron(") : -1])
    elif text.startswith("@"):
        raise ScheduleError(
            f"Shortcuts like {text.split()[0]} are not supported; write the five fields, "
            "e.g. 0 0 * * * for daily."
        )
    else:
        fields = text.split()
        if len(fields) in {6, 7}:
            raise ScheduleError(
                f"Got {len(fields)} fields, but seconds (and year) are not supported: use five "
                "fields (minute hour day-of-month month day-of-week), or wrap an EventBridge "
                "expression in cron(...)."
            )
        if len(fields) != 5:
            raise ScheduleError(
                "Expected a 5-field cron (minute hour day-of-month month day-of-week), "
                f"cron(...) with six EventBridge fields, or rate(...); got {len(fields)} field"
                f"{'' if len(fields) == 1 else 's'}."
            )
    cron = _normalise_cron_fields(fields)
    _check_cron(cron)
    return Schedule(kind="cron", expression=cron)


def validate_timezone(tz: str) -> str:
    """Return `tz` unchanged if it is a known IANA timezone name, else raise ScheduleError."""
    if not isinstance(tz, str) or tz not in _known_timezones():
        shown = tz[:64] if isinstance(tz, str) else type(tz).__name__
        raise ScheduleError(f"Unknown timezone {shown!r}; use an IANA name like Europe/Berlin.")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # Listed but unreadable (a broken tz file on the host): still unusable.
        raise ScheduleError(f"Timezone {tz!r} cannot be loaded on this server.") from None
    return tz


@cache
def _known_timezones() -> frozenset[str]:
    # Membership in the published key list, rather than "ZoneInfo() did not
    # raise", also refuses paths ("../x"), odd case ("europe/berlin") and host
    # artefacts, all of which ZoneInfo may resolve on some machines and not others.
    return frozenset(available_timezones()) - _NON_ZONES


def _parse_rate(inner: str) -> Schedule:
    parts = inner.split()
    if len(parts) != 2:
        raise ScheduleError(
            "A rate is written rate(N minutes|hours|days), e.g. rate(5 minutes) or rate(1 hour)."
        )
    raw_value, raw_unit = parts
    if not raw_value.isdigit():
        raise ScheduleError(f"The rate value must be a positive whole number; got {raw_value!r}.")
    value, unit = int(raw_value), raw_unit.lower()
    singular = unit.removesuffix("s")
    if singular not in _UNIT_SECONDS:
        raise ScheduleError(f"The rate unit must be minutes, hours or days; got {raw_unit!r}.")
    if value < 1:
        raise ScheduleError("A rate must be at least 1 minute.")
    # EventBridge insists on the grammatical form; mirroring it means an
    # expression accepted here is also accepted if the job moves to EventBridge.
    if value == 1 and unit != singular:
        raise ScheduleError(f"Write rate(1 {singular}), singular, for a value of 1.")
    if value != 1 and unit == singular:
        raise ScheduleError(f"Write rate({value} {singular}s), plural, for a value above 1.")
    seconds = value * _UNIT_SECONDS[singular]
    if seconds > _MAX_RATE_SECONDS:
        raise ScheduleError("A rate can be at most 3650 days (ten years).")
    return Schedule(kind="rate", expression=f"rate({value} {unit})", rate_seconds=seconds)


def _eventbridge_to_cron_fields(inner: str) -> list[str]:
    fields = inner.upper().split()
    if len(fields) != 6:
        raise ScheduleError(
            "EventBridge cron has six fields: cron(minutes hours day-of-month month "
            f"day-of-week year); got {len(fields)}."
        )
    minute, hour, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            "EventBridge cron needs '?' in exactly one of day-of-month and day-of-week, "
            "e.g. cron(0 8 1 * ? *) or cron(0 8 ? * MON-FRI *)."
        )
    if year != "*":
        raise ScheduleError("Year restrictions are not supported; use * for the year.")
    day_of_month = "*" if day_of_month == "?" else day_of_month
    day_of_week = "*" if day_of_week == "?" else _shift_eventbridge_weekdays(day_of_week)
    return [minute, hour, day_of_month, month, day_of_week]


def _shift_eventbridge_weekdays(field: str) -> str:
    """Rewrite EventBridge weekday numbers (1-7 = SUN-SAT) as cron's (0-6 = SUN-SAT)."""
    items = []
    for item in field.split(","):
        if item == "L":
            # Quartz reads a bare L here as "Saturday"; nobody writes that on
            # purpose, so ask for the explicit last-weekday form instead.
            raise ScheduleError(
                "A bare L in day-of-week is ambiguous; write e.g. 6L for the last Friday."
            )
        if item.endswith("L"):
            items.append(_shift_eventbridge_weekday(item[:-1]) + "L")
        elif "#" in item:
            weekday, _, nth = item.partition("#")
            items.append(f"{_shift_eventbridge_weekday(weekday)}#{nth}")
        else:
            # Only the range bounds are weekdays; a /step is a count, not a day.
            body, slash, step = item.partition("/")
            shifted = "-".join(_shift_eventbridge_weekday(bound) for bound in body.split("-"))
            items.append(shifted + slash + step)
    return ",".join(items)


def _shift_eventbridge_weekday(token: str) -> str:
    if not token.isdigit():
        return token  # names (MON) mean the same in both dialects; croniter judges the rest
    number = int(token)
    if not 1 <= number <= 7:
        raise ScheduleError(
            f"EventBridge day-of-week numbers run 1-7 (1 = SUN, 7 = SAT); got {number}."
        )
    return str(number - 1)


def _normalise_cron_fields(fields: list[str]) -> str:
    normalised = []
    for index, raw in enumerate(fields):
        field = raw.upper()
        if "?" in field:
            if index not in {2, 4} or field != "?":
                raise ScheduleError(
                    f"'?' may only stand alone in day-of-month or day-of-week "
                    f"(found in {_FIELD_NAMES[index]})."
                )
            field = "*"
        if _HASH_OR_RANDOM_RE.search(field):
            raise ScheduleError(
                f"Hashed (H) and random (R) values are not supported "
                f"(found in {_FIELD_NAMES[index]})."
            )
        items = field.split(",")
        if index in _STEP_BOUNDS:
            items = [_portable_step(item, *_STEP_BOUNDS[index]) for item in items]
        if index == 4:
            items = [_croniter_last_weekday(item) for item in items]
        normalised.append(",".join(items))
    return " ".join(normalised)


def _portable_step(item: str, low: int, high: int) -> str:
    # `a/n` is a Quartz/EventBridge-ism that croniter reads as `a-max/n`; Vixie
    # cron and Celery's crontab parser reject it, so store the spelling they share.
    match = _BARE_STEP_RE.match(item)
    if not match:
        return item
    start, step = int(match.group(1)), match.group(2)
    return f"*/{step}" if start == low else f"{start}-{high}/{step}"


def _croniter_last_weekday(item: str) -> str:
    # "Last Friday" is 5L in Quartz and most docs but L5 in croniter.
    match = _LAST_WEEKDAY_RE.match(item)
    if not match:
        return item
    weekday = match.group(1)
    return f"L{_WEEKDAY_NUMBERS.get(weekday, weekday)}"


def _check_cron(cron: str) -> None:
    if "LW" in cron.split()[2]:
        raise ScheduleError("LW (last weekday of the month) is not supported; use L or e.g. 28W.")
    try:
        # A fixed reference keeps validation deterministic; one get_next also
        # catches expressions that parse but can never fire (31 February).
        croniter(cron, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        # Every croniter error subclasses ValueError (or TypeError for bad
        # types); its message starts with the expression in brackets, which we
        # already show.
        detail = _CRONITER_PREFIX_RE.sub("", str(exc)) or type(exc).__name__
        if "failed to find" in detail:
            raise ScheduleError(
                f"{cron!r} never fires (no matching date within 50 years, e.g. 31 February)."
            ) from None
        raise ScheduleError(f"{cron!r} is not a valid cron expression: {detail}.") from None


def _rate_fire_times(start: datetime, step: timedelta, count: int) -> list[datetime]:
    times = []
    for k in range(1, count + 1):
        try:
            times.append(start + step * k)
        except OverflowError:  # past year 9999: the calendar has run out
            break
    return times


def _cron_fire_times(expression: str, start: datetime, zone: tzinfo, count: int) -> list[datetime]:
    try:
        # The aware local start makes croniter walk the zone's wall clock, which
        # is what "0 9 * * *" means to the person who wrote it.
        iterator = croniter(expression, start.astimezone(zone))
    except (ValueError, TypeError, KeyError) as exc:
        raise ScheduleError(f"{expression!r} is not a valid cron expression.") from exc
    pinned_hour = not expression.split()[1].startswith("*")
    times: list[datetime] = []
    previous = start
    # Each skipped candidate is a repeated fall-back wall time, at most one
    # hour's worth (60) per DST change; the bound only guards against a croniter
    # regression that stops advancing.
    for _ in range(2 * count + 1440):
        if len(times) == count:
            break
        try:
            candidate = iterator.get_next(datetime).astimezone(UTC)
        except (ValueError, OverflowError):  # no further date before year 9999
            break
        if candidate <= previous:
            continue
        if pinned_hour and _is_second_occurrence(candidate.astimezone(zone)):
            continue
        times.append(candidate)
        previous = candidate
    return times


def _is_second_occurrence(local: datetime) -> bool:
    # Derived from the UTC instant rather than trusting croniter's fold, so the
    # rule holds whatever croniter sets on its return values.
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def first_fire_after(expression: str, *, tz: str, after: datetime) -> datetime | None:
    """The schedule's first tick strictly after `after` (UTC), or None without a
    schedule. Rate schedules start one period after `after`."""
    if not expression:
        return None
    times = parse_schedule(expression).next_fire_times(after=after, tz=tz, count=1)
    return times[0] if times else None


def due_ticks(
    expression: str, *, tz: str, first: datetime, now: datetime, limit: int
) -> tuple[list[datetime], datetime | None]:
    """The ticks from `first` up to `now` (the most recent `limit` of them, oldest
    first) and the first tick after `now`. Rate schedules keep their phase: the ticks
    are `first + k * rate`, however long DIEP was down."""
    schedule = parse_schedule(expression)
    if schedule.kind == "rate":
        assert schedule.rate_seconds is not None
        step = timedelta(seconds=schedule.rate_seconds)
        if first > now:
            return [], first
        missed = int((now - first) / step)
        ticks = [first + k * step for k in range(max(0, missed + 1 - limit), missed + 1)]
        return ticks, first + (missed + 1) * step
    recent: deque[datetime] = deque(maxlen=limit)
    tick: datetime | None = first
    walked = 0
    while tick is not None and tick <= now and walked < _MAX_TICKS_WALKED:
        recent.append(tick)
        walked += 1
        nxt = schedule.next_fire_times(after=tick, tz=tz, count=1)
        tick = nxt[0] if nxt else None
    return list(recent), first_fire_after(expression, tz=tz, after=now)


# Bounds the walk over missed cron ticks after a long outage (a few ms per thousand).
_MAX_TICKS_WALKED = 20_000


def schedule_preview(
    expression: str, *, tz: str, now: datetime, count: int = 5
) -> dict[str, object] | None:
    """What the API and the admin show of a schedule: its description and next ticks."""
    if not expression:
        return None
    try:
        schedule = parse_schedule(expression)
        ticks = schedule.next_fire_times(after=now, tz=tz, count=count)
    except ScheduleError as exc:
        return {"description": f"invalid: {exc}", "next_fire_times": []}
    return {"description": schedule.describe(), "next_fire_times": [t.isoformat() for t in ticks]}
