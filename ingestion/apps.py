from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "ingestion"
    verbose_name = "Event-driven ingestion"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: they need the models, which load after apps.
        from ingestion.services import files_follow_retry, files_follow_run
        from jobs.runs.state import Stage, run_listeners

        # The file ledger follows its runs: jobs tells, never imports, ingestion.
        run_listeners.on_run_ended(files_follow_run, stage=Stage.LEDGER)
        run_listeners.on_run_retried(files_follow_retry, stage=Stage.LEDGER)
