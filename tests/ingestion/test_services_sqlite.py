"""The ledger's raw SQL (insert-ignore with RETURNING, the counters' upsert) on SQLite,
the embedded default's database, in a process of its own (the suite runs on Postgres)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json
from collections import Counter
from datetime import datetime, timezone

import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)

from ingestion.events import ObjectCreated
from ingestion.models import ConsumedMessageStat, IngestedFile
from ingestion.services import files_record, stats_add
from jobs import services
from jobs.models import DataGrant
from jobs.specs import JobSpecSerializer

DataGrant.objects.create(bucket="raw", can_read=True)
DataGrant.objects.create(bucket="cur", can_read=False, can_write=True)

spec = JobSpecSerializer(data={
    "name": "lite", "source": {"uri": "s3://raw/in/", "format": "csv"},
    "destination": {"uri": "s3://cur/out/"},
    "trigger": {"bucket": "raw", "prefix": "in/", "window_seconds": 60},
})
spec.is_valid(raise_exception=True)
services.job_create(spec=spec.validated_data, user=None, source="test")
when = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
events = [
    ObjectCreated(bucket="raw", key=f"in/a b {n}.csv", size=n, etag=f"e{n}", version_id=None,
                  sequencer=None, event_name="ObjectCreated:Put", event_time=when, source="s3")
    for n in range(3)
]
first = files_record(events=events + events[:1])
again = files_record(events=events)
stats_add(Counter(received=3, routed=2))
stats_add(Counter(received=4))
row = IngestedFile.objects.get(key="in/a b 0.csv")
print(json.dumps({
    "first": [first.recorded, first.duplicates], "again": [again.recorded, again.duplicates],
    "rows": IngestedFile.objects.count(),
    "event_time": row.event_time.isoformat(), "received_at_set": row.received_at is not None,
    "waiting_before_now": IngestedFile.objects.filter(
        received_at__lte=datetime.now(timezone.utc)).count(),
    "stats": dict(ConsumedMessageStat.objects.values_list("outcome", "count")),
}))
"""


def test_ledger_insert_and_counters_on_sqlite(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'diep.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
        "DIEP_DATA_DIR": str(tmp_path),
        "CELERY_BROKER_URL": "memory://",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["first"] == [3, 1]  # the repeated event inside one batch is a duplicate
    assert result["again"] == [0, 3]  # a redelivered batch changes nothing
    assert result["rows"] == 3
    # Datetimes written by raw SQL read back exactly and compare as Django writes them.
    assert result["event_time"] == "2026-11-29T03:00:00+00:00"
    assert result["received_at_set"]
    assert result["waiting_before_now"] == 3
    assert result["stats"] == {"received": 7, "routed": 2}
