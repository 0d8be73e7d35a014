"""jobs.cron: parsing, EventBridge conversion, previews across DST, descriptions.

Pure module, so these run without Django or a database:
    .venv/bin/python -m pytest tests/jobs/test_cron.py -p no:django -q
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cron_descriptor.Exception import FormatException
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs import cron
from jobs.cron import (
    MAX_EXPRESSION_LENGTH,
    MAX_PREVIEW_COUNT,
    Schedule,
    ScheduleError,
    parse_schedule,
    validate_timezone,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- EventBridge cron → 5-field ---------------------------------------------------------

EVENTBRIDGE_TABLE = [
    ("cron(0 12 ? * MON-FRI *)", "0 12 * * MON-FRI"),
    # Last Friday: EventBridge 6L (6 = FRI), croniter spells it L5 and rejects 5L.
    ("cron(15 10 ? * 6L *)", "15 10 * * L5"),
    ("cron(15 10 ? * FRIL *)", "15 10 * * L5"),
    ("cron(0 8 1 * ? *)", "0 8 1 * *"),
    # 0/15 is rewritten to the portable */15; 2-6 (MON-FRI) shifts to 1-5.
    ("cron(0/15 * ? * 2-6 *)", "*/15 * * * 1-5"),
    ("cron(5/15 * ? * 2-6 *)", "5-59/15 * * * 1-5"),
    ("cron(0 18 ? * 1,7 *)", "0 18 * * 0,6"),  # SUN and SAT
    ("cron(0 9 ? * 6#3 *)", "0 9 * * 5#3"),  # third Friday; the 3 is not a weekday
    ("cron(0 9 ? * 2#1 *)", "0 9 * * 1#1"),
    ("cron(0 9 ? * MON#2 *)", "0 9 * * MON#2"),
    ("cron(0 0 L * ? *)", "0 0 L * *"),
    ("cron(0 0 15W * ? *)", "0 0 15W * *"),
    ("cron(0 0/6 ? JAN-MAR MON,WED *)", "0 */6 * JAN-MAR MON,WED"),
    ("cron(0 12 ? * mon-fri *)", "0 12 * * MON-FRI"),
    ("  cron( 0  12  ?  *  2  * )  ", "0 12 * * 1"),
    ("CRON(0 12 1 * ? *)", "0 12 1 * *"),
]


@pytest.mark.parametrize(("eventbridge", "expected"), EVENTBRIDGE_TABLE)
def test_eventbridge_cron_is_converted_to_five_fields(eventbridge: str, expected: str) -> None:
    schedule = parse_schedule(eventbridge)
    assert schedule == Schedule(kind="cron", expression=expected, rate_seconds=None)


PLAIN_TABLE = [
    ("*/5 * * * *", "*/5 * * * *"),
    ("0 2 * * MON-FRI", "0 2 * * MON-FRI"),
    ("0 2 * * mon-fri", "0 2 * * MON-FRI"),
    ("  30   2\t* * *  ", "30 2 * * *"),
    ("0 8 * * 5L", "0 8 * * L5"),
    ("0 8 * * L5", "0 8 * * L5"),
    ("0 8 ? * ?", "0 8 * * *"),
    ("0/10 1/2 * * *", "*/10 1-23/2 * * *"),
    ("0 0 1/7 2/3 *", "0 0 */7 2-12/3 *"),
    ("0 9 * * THU", "0 9 * * THU"),  # the H in THU is not croniter's hash syntax
    ("0 0 1 MAR *", "0 0 1 MAR *"),  # nor is the R in MAR its random syntax
    ("0 0 29 2 *", "0 0 29 2 *"),  # fires only in leap years, but it does fire
]


@pytest.mark.parametrize(("plain", "expected"), PLAIN_TABLE)
def test_plain_cron_is_normalised(plain: str, expected: str) -> None:
    assert parse_schedule(plain) == Schedule(kind="cron", expression=expected)


@pytest.mark.parametrize(
    "expression", [row[0] for row in EVENTBRIDGE_TABLE + PLAIN_TABLE] + ["rate(05 minutes)"]
)
def test_normalised_form_parses_to_itself(expression: str) -> None:
    # The stored form is re-parsed on every read; it must be a fixed point.
    normalised = parse_schedule(expression)
    assert parse_schedule(normalised.expression) == normalised


def _weekdays(expression: str, *, days: int = 21) -> set[str]:
    after = utc(2026, 6, 1)
    times = parse_schedule(expression).next_fire_times(after=after, tz="UTC", count=days)
    return {time.strftime("%a") for time in times}


def test_eventbridge_weekday_numbers_mean_the_same_days_after_conversion() -> None:
    # Checked on real dates, not strings: an off-by-one shift would move every day.
    assert _weekdays("cron(0 12 ? * 2-6 *)") == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert _weekdays("cron(0 12 ? * 1,7 *)") == {"Sun", "Sat"}
    assert _weekdays("cron(0 12 ? * 1 *)") == {"Sun"}
    assert _weekdays("cron(0 12 ? * 7 *)") == {"Sat"}


def test_eventbridge_last_and_nth_weekday_fire_on_the_right_dates() -> None:
    after = utc(2026, 1, 1)
    last_fridays = parse_schedule("cron(15 10 ? * 6L *)").next_fire_times(
        after=after, tz="UTC", count=3
    )
    assert last_fridays == [
        utc(2026, 1, 30, 10, 15),
        utc(2026, 2, 27, 10, 15),
        utc(2026, 3, 27, 10, 15),
    ]
    third_fridays = parse_schedule("cron(0 9 ? * 6#3 *)").next_fire_times(
        after=after, tz="UTC", count=2
    )
    assert third_fridays == [utc(2026, 1, 16, 9), utc(2026, 2, 20, 9)]
    last_days = parse_schedule("cron(0 0 L * ? *)").next_fire_times(after=after, tz="UTC", count=2)
    assert last_days == [utc(2026, 1, 31), utc(2026, 2, 28)]
    # 15 February 2026 is a Sunday, so the nearest weekday is Monday the 16th.
    nearest = parse_schedule("cron(0 8 15W 2 ? *)").next_fire_times(after=after, tz="UTC", count=1)
    assert nearest == [utc(2026, 2, 16, 8)]


# --- rate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "normalised", "seconds"),
    [
        ("rate(1 minute)", "rate(1 minute)", 60),
        ("rate(5 minutes)", "rate(5 minutes)", 300),
        ("rate(1 hour)", "rate(1 hour)", 3600),
        ("rate(12 hours)", "rate(12 hours)", 43200),
        ("rate(1 day)", "rate(1 day)", 86400),
        ("rate(3650 days)", "rate(3650 days)", 3650 * 86400),
        (" rate( 05   minutes ) ", "rate(5 minutes)", 300),
        ("RATE(2 Hours)", "rate(2 hours)", 7200),
    ],
)
def test_rate_is_normalised(expression: str, normalised: str, seconds: int) -> None:
    assert parse_schedule(expression) == Schedule(
        kind="rate", expression=normalised, rate_seconds=seconds
    )


def test_rate_fire_times_are_anchored_at_after_in_elapsed_time() -> None:
    # 28 March 2026 12:00 in Berlin is 11:00 UTC; the clocks change overnight, so a
    # 24-hour period lands at 13:00 local the next day. Rates measure real time.
    after = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    times = parse_schedule("rate(1 day)").next_fire_times(after=after, tz="Europe/Berlin", count=3)
    assert times == [utc(2026, 3, 29, 11), utc(2026, 3, 30, 11), utc(2026, 3, 31, 11)]
    assert times[0].astimezone(BERLIN).hour == 13
    assert all(time.tzinfo is UTC for time in times)
    minutes = parse_schedule("rate(5 minutes)").next_fire_times(
        after=utc(2026, 1, 1, 0, 2, 30), tz="UTC", count=2
    )
    assert minutes == [utc(2026, 1, 1, 0, 7, 30), utc(2026, 1, 1, 0, 12, 30)]


# --- invalid input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("   \t\n", "empty"),
        ("x" * (MAX_EXPRESSION_LENGTH + 1), "at most 256 characters"),
        ("* * * * * *", "seconds"),
        ("0 0 12 * * ? *", "seconds"),
        ("* * * *", "got 4 fields"),
        ("hello", "got 1 field."),
        ("@daily", "Shortcuts like @daily are not supported"),
        ("61 * * * *", "not a valid cron expression"),
        ("0 24 * * *", "not a valid cron expression"),
        ("*/0 * * * *", "not a valid cron expression"),
        ("0 0 * * 5#6", "not a valid cron expression"),
        ("0 0 31 2 *", "never fires"),
        ("H * * * *", "Hashed (H) and random (R)"),
        ("R 2 * * *", "Hashed (H) and random (R)"),
        ("0 0 * ? *", "'?' may only stand alone in day-of-month or day-of-week (found in month)"),
        ("0 0 LW * *", "LW (last weekday of the month) is not supported"),
        ("\uff15 * * * *", "ASCII"),  # fullwidth 5
        ("*\u00a0* * * *", "ASCII"),  # no-break space
        ("cron(0 12 * * MON *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 12 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 12 ? * MON 2026)", "Year restrictions are not supported"),
        ("cron(0 12 ? * MON 2026-2030)", "Year restrictions are not supported"),
        ("cron(0 12 ? * MON)", "six fields"),
        ("cron(0 0 12 * * ? *)", "six fields"),
        ("cron(0 12 ? * 0 *)", "1-7 (1 = SUN, 7 = SAT); got 0"),
        ("cron(0 12 ? * 2-8 *)", "got 8"),
        ("cron(0 12 ? * 9#2 *)", "got 9"),
        ("cron(0 12 ? * L *)", "bare L in day-of-week"),
        ("cron(? 12 1 * ? *)", "found in minute"),
        ("cron(0 12 32 * ? *)", "not a valid cron expression"),
        ("rate(0 minutes)", "at least 1 minute"),
        ("rate(1 minutes)", "rate(1 minute), singular"),
        ("rate(1 hours)", "rate(1 hour), singular"),
        ("rate(2 day)", "rate(2 days), plural"),
        ("rate(-5 minutes)", "positive whole number"),
        ("rate(1.5 hours)", "positive whole number"),
        ("rate(5 seconds)", "minutes, hours or days; got 'seconds'"),
        ("rate(2 weeks)", "got 'weeks'"),
        ("rate(5minutes)", "rate(N minutes|hours|days)"),
        ("rate()", "rate(N minutes|hours|days)"),
        ("rate(3651 days)", "at most 3650 days"),
        ("rate(87601 hours)", "at most 3650 days"),
        ("rate(" + "9" * 200 + " minutes)", "at most 3650 days"),
    ],
)
def test_invalid_expressions_say_why(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as excinfo:
        parse_schedule(expression)
    assert message in str(excinfo.value)


def test_non_text_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError, match="must be text"):
        parse_schedule(None)  # type: ignore[arg-type]


def test_schedule_error_is_a_value_error() -> None:
    # Serializers and forms catch ValueError; keep that contract.
    assert issubclass(ScheduleError, ValueError)


_CRON_TOKENS = st.sampled_from(
    [
        "*",
        "?",
        "0",
        "1",
        "7",
        "12",
        "59",
        "60",
        "L",
        "W",
        "#",
        "/",
        "-",
        ",",
        "MON",
        "FRI",
        "JAN",
        "H",
        "R",
        "5L",
        "L5",
        "6#3",
        "15W",
        "LW",
        "*/5",
        "0/15",
        "2-6",
        "(",
        ")",
        "x",
    ]
)


@st.composite
def _cron_like(draw: st.DrawFn) -> str:
    fields = draw(st.lists(st.lists(_CRON_TOKENS, min_size=1, max_size=3), min_size=4, max_size=7))
    body = " ".join("".join(field) for field in fields)
    wrapper = draw(st.sampled_from(["{}", "cron({})", "rate({})"]))
    return wrapper.format(body)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), _cron_like()))
def test_only_schedule_errors_escape_and_accepted_schedules_preview(expression: str) -> None:
    # croniter and cron-descriptor raise a zoo of exception types; none may leak.
    try:
        schedule = parse_schedule(expression)
    except ScheduleError:
        return
    assert parse_schedule(schedule.expression) == schedule
    times = schedule.next_fire_times(after=utc(2026, 1, 1), tz="Europe/Berlin", count=3)
    assert times == sorted(set(times))
    assert all(time > utc(2026, 1, 1) for time in times)
    assert isinstance(schedule.describe(), str)


# --- next_fire_times and DST --------------------------------------------------------------


def test_cron_preview_is_strictly_after_and_in_utc() -> None:
    schedule = parse_schedule("0 9 * * *")
    times = schedule.next_fire_times(after=utc(2026, 1, 1, 9), tz="UTC", count=2)
    assert times == [utc(2026, 1, 2, 9), utc(2026, 1, 3, 9)]  # 09:00 itself is excluded
    assert all(time.tzinfo is UTC for time in times)
    # The same instant given in another zone gives the same answer.
    same_instant = datetime(2026, 1, 1, 10, tzinfo=BERLIN)
    assert schedule.next_fire_times(after=same_instant, tz="UTC", count=2) == times


def test_cron_is_evaluated_in_the_job_timezone() -> None:
    times = parse_schedule("0 9 * * *").next_fire_times(
        after=utc(2025, 12, 31, 12), tz="Asia/Tokyo", count=2
    )
    assert times == [utc(2026, 1, 1, 0), utc(2026, 1, 2, 0)]  # 09:00 JST is midnight UTC


def test_new_york_9am_moves_from_13_to_14_utc_at_the_november_change() -> None:
    # US DST ends on Sunday 1 November 2026: EDT (UTC-4) becomes EST (UTC-5).
    times = parse_schedule("0 9 * * *").next_fire_times(
        after=datetime(2026, 10, 30, 12, tzinfo=NEW_YORK), tz="America/New_York", count=4
    )
    assert times == [
        utc(2026, 10, 31, 13),
        utc(2026, 11, 1, 14),
        utc(2026, 11, 2, 14),
        utc(2026, 11, 3, 14),
    ]
    assert {time.astimezone(NEW_YORK).hour for time in times} == {9}


def test_berlin_spring_forward_runs_a_skipped_time_once_right_after_the_jump() -> None:
    # On 29 March 2026 Berlin jumps from 02:00 CET straight to 03:00 CEST, so
    # 02:30 does not exist. croniter (kept as is) fires once at 03:00 CEST, the
    # first instant after the gap, rather than skipping the day; the next day
    # is back at 02:30 CEST.
    times = parse_schedule("30 2 * * *").next_fire_times(
        after=datetime(2026, 3, 27, 12, tzinfo=BERLIN), tz="Europe/Berlin", count=4
    )
    assert times == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET (UTC+1)
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST (UTC+2): the replacement for 02:30
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        utc(2026, 3, 31, 0, 30),
    ]
    assert times[1].astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"


def test_berlin_spring_forward_has_no_extra_fire_for_wildcard_hours() -> None:
    # An hourly job simply has no 02:30 that day: 01:30 CET, then 03:30 CEST.
    times = parse_schedule("30 * * * *").next_fire_times(
        after=datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN), tz="Europe/Berlin", count=3
    )
    assert [time.astimezone(BERLIN).strftime("%H:%M %Z") for time in times] == [
        "01:30 CET",
        "03:30 CEST",
        "04:30 CEST",
    ]
    assert times[1] - times[0] == timedelta(hours=1)


def test_berlin_fall_back_runs_a_pinned_time_once() -> None:
    # On 25 October 2026 Berlin repeats 02:00-03:00. croniter alone yields 02:30
    # twice (00:30 and 01:30 UTC); a daily job must not run twice, so only the
    # first occurrence is kept (Vixie cron's rule for fixed-hour jobs).
    times = parse_schedule("30 2 * * *").next_fire_times(
        after=datetime(2026, 10, 24, 12, tzinfo=BERLIN), tz="Europe/Berlin", count=3
    )
    assert times == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_berlin_fall_back_pinned_hour_skips_the_whole_repeated_hour() -> None:
    times = parse_schedule("*/20 2 * * *").next_fire_times(
        after=utc(2026, 10, 24, 23), tz="Europe/Berlin", count=4
    )
    assert times == [
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 20),
        utc(2026, 10, 25, 0, 40),
        utc(2026, 10, 26, 1, 0),  # the repeated 02:00-02:40 (01:xx UTC) is not run again
    ]


def test_berlin_fall_back_keeps_both_hours_for_wildcard_hours() -> None:
    # Both 02:30s are distinct real hours, so an hourly job runs in each.
    times = parse_schedule("30 * * * *").next_fire_times(
        after=utc(2026, 10, 24, 23), tz="Europe/Berlin", count=4
    )
    assert times == [
        utc(2026, 10, 24, 23, 30),
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 30),  # 02:30 CET
        utc(2026, 10, 25, 2, 30),
    ]


def test_berlin_fall_back_starting_inside_the_repeated_hour() -> None:
    # 01:15 UTC is the second 02:15 (CET): the 02:30 that already ran at 00:30 UTC
    # must not be offered again, so the next run is the following day.
    times = parse_schedule("30 2 * * *").next_fire_times(
        after=utc(2026, 10, 25, 1, 15), tz="Europe/Berlin", count=1
    )
    assert times == [utc(2026, 10, 26, 1, 30)]


def test_preview_stops_when_the_calendar_runs_out() -> None:
    leap_days = parse_schedule("0 0 29 2 *").next_fire_times(
        after=utc(9990, 1, 1), tz="UTC", count=5
    )
    assert leap_days == [utc(9992, 2, 29), utc(9996, 2, 29)]
    rates = parse_schedule("rate(3650 days)").next_fire_times(
        after=utc(9980, 1, 1), tz="UTC", count=5
    )
    assert len(rates) == 2


def test_preview_count_bounds_and_naive_datetimes() -> None:
    schedule = parse_schedule("*/5 * * * *")
    assert schedule.next_fire_times(after=utc(2026, 1, 1), tz="UTC", count=0) == []
    assert len(
        schedule.next_fire_times(after=utc(2026, 1, 1), tz="UTC", count=MAX_PREVIEW_COUNT)
    ) == (MAX_PREVIEW_COUNT)
    with pytest.raises(ValueError, match="between 0 and"):
        schedule.next_fire_times(after=utc(2026, 1, 1), tz="UTC", count=MAX_PREVIEW_COUNT + 1)
    with pytest.raises(ValueError, match="between 0 and"):
        schedule.next_fire_times(after=utc(2026, 1, 1), tz="UTC", count=-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_fire_times(after=datetime(2026, 1, 1), tz="UTC")  # noqa: DTZ001
    with pytest.raises(ScheduleError, match="Unknown timezone"):
        schedule.next_fire_times(after=utc(2026, 1, 1), tz="Mars/Olympus")


def test_hand_built_schedules_are_checked() -> None:
    with pytest.raises(ScheduleError, match="rate_seconds of at least 60"):
        Schedule(kind="rate", expression="rate(5 minutes)")
    with pytest.raises(ScheduleError, match="no rate_seconds"):
        Schedule(kind="cron", expression="* * * * *", rate_seconds=60)
    with pytest.raises(ScheduleError, match="not a valid cron expression"):
        Schedule(kind="cron", expression="99 * * * *").next_fire_times(
            after=utc(2026, 1, 1), tz="UTC"
        )


# --- timezones ----------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_known_timezones_are_returned_unchanged(tz: str) -> None:
    assert validate_timezone(tz) == tz


@pytest.mark.parametrize(
    "tz",
    [
        "",
        "Mars/Olympus",
        "europe/berlin",
        "Europe/Berlin ",
        "../../etc/passwd",
        "/etc/localtime",
        "localtime",
        "Factory",
        "CEST",
        "+02:00",
        "Europe/Berlin\x00",
        "x" * 500,
    ],
)
def test_unknown_timezones_are_rejected(tz: str) -> None:
    with pytest.raises(ScheduleError, match="Unknown timezone") as excinfo:
        validate_timezone(tz)
    assert "IANA" in str(excinfo.value)
    assert len(str(excinfo.value)) < 200  # a huge input is not echoed back whole


# --- describe -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("30 2 * * *", "At 02:30 AM"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("cron(0 12 ? * MON-FRI *)", "At 12:00 PM, Monday through Friday"),
        ("cron(0 18 ? * 1,7 *)", "At 06:00 PM, only on Sunday and Saturday"),
        ("cron(15 10 ? * 6L *)", "At 10:15 AM, on the last Friday of the month"),
        ("cron(0 9 ? * 6#3 *)", "At 09:00 AM, on the third Friday of the month"),
        ("rate(5 minutes)", "Every 5 minutes"),
        ("rate(1 minute)", "Every minute"),
        ("rate(1 hour)", "Every hour"),
        ("rate(2 days)", "Every 2 days"),
    ],
)
def test_describe(expression: str, text: str) -> None:
    assert parse_schedule(expression).describe() == text


def test_describe_falls_back_to_the_expression(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(expression: str) -> str:
        raise FormatException("cannot phrase " + expression)

    monkeypatch.setattr(cron, "get_description", broken)
    assert parse_schedule("0 8 * * L5").describe() == "0 8 * * L5"
