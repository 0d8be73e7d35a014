"""manage.py consume_events: the long-running SQS consumer."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from diep_portal.aws.sqs import sqs_queue_url
from diep_portal.exceptions import AwsError
from ingestion.consumer import Consumer


class Command(BaseCommand):
    help = "Consume S3 and Glue events from SQS. SIGTERM finishes the current batch and exits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queue", default=settings.DIEP_INGEST_QUEUE, help="Queue name or URL."
        )
        parser.add_argument("--threads", type=int, default=1, help="Parallel consumers.")
        parser.add_argument("--wait-seconds", type=int, default=20, help="Long-poll wait.")
        parser.add_argument(
            "--wait-for-queue",
            type=float,
            default=0,
            help="Wait up to this many seconds for the queue to exist (a stack whose "
            "provisioning runs beside the consumer); default: fail at once.",
        )
        parser.add_argument(
            "--max-seconds",
            type=float,
            default=None,
            help="Stop after this long (default: run until stopped).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        queue = options["queue"]
        queue_url = (
            queue
            if queue.startswith(("http://", "https://"))
            else self._queue_url(queue, options["wait_for_queue"])
        )
        consumers = [
            Consumer(queue_url=queue_url, wait_seconds=options["wait_seconds"])
            for _ in range(max(1, options["threads"]))
        ]

        def stop(signum: int, frame: Any) -> None:
            for consumer in consumers:
                consumer.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        crashed: list[BaseException] = []

        def consume(consumer: Consumer) -> None:
            try:
                consumer.run(max_seconds=options["max_seconds"])
            except BaseException as exc:  # a supervisor must see it: exit non-zero
                crashed.append(exc)
                for other in consumers:
                    other.stop()
                raise

        threads = [threading.Thread(target=consume, args=(c,)) for c in consumers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if crashed:
            raise CommandError(f"consumer stopped abnormally: {crashed[0]!r}")
        self.stdout.write("consumer stopped")

    def _queue_url(self, name: str, wait_seconds: float) -> str:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                return sqs_queue_url(queue_name=name)
            except AwsError as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(f"Queue {name!r} is not reachable: {exc}") from exc
                self.stdout.write(f"waiting for queue {name!r} ({exc.code})")
                time.sleep(2)
