from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Ingestion jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: they need the models, which load after apps.
        from jobs.alerts import alert_for_run
        from jobs.engines.glue.engine import GlueEngine
        from jobs.engines.local.engine import LocalEngine
        from jobs.engines.registry import register_engine
        from jobs.runs.admission import admit_after_run_ended
        from jobs.runs.state import Stage, run_listeners

        register_engine(GlueEngine())
        register_engine(LocalEngine())
        run_listeners.on_run_ended(alert_for_run, stage=Stage.ALERTS)
        run_listeners.on_run_ended(admit_after_run_ended, stage=Stage.ADMISSION)
