"""The local engine: pyarrow ETL in a Celery worker (engine, worker, tasks, tracking)."""
