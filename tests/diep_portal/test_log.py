import logging

from diep_portal.log import KeyValueFormatter


def test_extra_fields_follow_the_event_name() -> None:
    record = logging.LogRecord(
        "jobs.services", logging.INFO, __file__, 1, "run.started", None, None
    )
    record.run_id = "r-1"
    record.glue_run_id = "jr_9"
    line = KeyValueFormatter("%(levelname)s %(name)s %(message)s").format(record)
    assert line == "INFO jobs.services run.started glue_run_id=jr_9 run_id=r-1"


def test_plain_records_stay_plain() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    assert KeyValueFormatter("%(message)s").format(record) == "hello you"
