"""DIEP settings, read from the environment (django-environ).

Every variable has a safe embedded default (SQLite, a broker that needs no server,
the local moto endpoint) so a fresh checkout runs; production sets them explicitly.
`.env.example` lists them all.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ---------------------------------------------------------------- core
DEBUG = env.bool("DJANGO_DEBUG", default=False)
DATA_DIR = Path(env.str("DIEP_DATA_DIR", default=str(BASE_DIR / "var")))


def _secret_key() -> str:
    """The key from the environment, else one generated once and kept in DATA_DIR.

    No secret lives in the code, and an embedded install keeps its sessions across
    restarts without anyone having to invent a key.
    """
    key = env.str("DJANGO_SECRET_KEY", default="")
    if key:
        return key
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "diep_portal.apps.DiepAdminConfig",  # the admin, with the dashboard as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "jobs",
    "ingestion",
]

MIDDLEWARE = [
    "diep_portal.observability.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "diep_portal.urls"
WSGI_APPLICATION = "diep_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---------------------------------------------------------------- database
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'diep.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # Server-side binding lets psycopg prepare a statement it has run five times on a
    # connection: the request path's queries are then planned once per connection, not
    # once per request (planning was a third of their cost). Off behind a transaction-
    # pooling PgBouncer older than 1.21, which cannot keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": 5}
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout absorbs
    # the short write locks the embedded stack's processes take in turn.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://diep")}

# ---------------------------------------------------------------- i18n / time
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------- static files
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# ---------------------------------------------------------------- security
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
    else None
)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Job bodies are small; this bounds what a hostile client can make us parse.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_MAX_BODY_BYTES", default=1024 * 1024)

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "diep_portal.authentication.PermissionBackend",
]
# Admin login throttling: after DIEP_LOGIN_FAILURE_LIMIT failed logins for one username
# from one address, that pair is locked out (429) for DIEP_LOGIN_COOLOFF_MINUTES. By the
# pair, so nobody can lock a user out from elsewhere.
AXES_FAILURE_LIMIT = env.int("DIEP_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("DIEP_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ---------------------------------------------------------------- REST API
REST_FRAMEWORK = {
    # Knox first: its WWW-Authenticate header is what turns anonymous calls into 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "diep_portal.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "diep_portal.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("DIEP_API_PAGE_SIZE", default=50),
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("DIEP_API_THROTTLE_RATE", default="100/second")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "diep_portal.exceptions.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("DIEP_API_TOKEN_TTL_DAYS", default=90)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DIEP API",
    "DESCRIPTION": "Define ingestion jobs as data and run them on AWS Glue.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Three models have a `state`: each enum gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "RunStateEnum": "jobs.models.RunState",
        "FileStateEnum": "ingestion.models.FileState",
        "BackfillStateEnum": "ingestion.models.BackfillState",
    },
}

# ---------------------------------------------------------------- Celery
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
_visibility_timeout = env.int("CELERY_VISIBILITY_TIMEOUT", default=45)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # acks_late messages of a killed worker come back after the visibility timeout
    # plus kombu's restore sweep; these values bring that under a minute
    # (../shared/FACTS.md measured 103 s with the defaults' sweep).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility_timeout,
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT = "diep_portal.broker:Transport"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep our log format and extra fields
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A task must finish inside the visibility window, or the broker hands it to another
# worker; run claims make that harmless, the limit keeps it rare.
CELERY_TASK_SOFT_TIME_LIMIT = max(_visibility_timeout - 10, 10)
CELERY_TASK_TIME_LIMIT = max(_visibility_timeout - 5, 15)

# ---------------------------------------------------------------- AWS
AWS_REGION = env.str("AWS_REGION", default=env.str("AWS_DEFAULT_REGION", default="us-east-1"))
# Unset (or empty) means real AWS. The embedded stack points it at the local moto server.
AWS_ENDPOINT_URL: str | None = env.str("AWS_ENDPOINT_URL", default="") or None
AWS_CONNECT_TIMEOUT = env.float("AWS_CONNECT_TIMEOUT", default=5.0)
AWS_READ_TIMEOUT = env.float("AWS_READ_TIMEOUT", default=30.0)
AWS_MAX_ATTEMPTS = env.int("AWS_MAX_ATTEMPTS", default=5)
AWS_RETRY_MODE = env.str("AWS_RETRY_MODE", default="standard")
if AWS_RETRY_MODE not in {"standard", "adaptive", "legacy"}:
    raise ImproperlyConfigured("AWS_RETRY_MODE must be standard, adaptive or legacy")

# ---------------------------------------------------------------- DIEP
DIEP_DEFAULT_GLUE_JOB_NAME = env.str("DIEP_DEFAULT_GLUE_JOB_NAME", default="diep-ingest")
# The Glue jobs DIEP may start (an operator naming any other would start it, under its
# own role, with arguments of their choosing); the IAM policy grants exactly these.
DIEP_GLUE_JOB_NAMES = env.list("DIEP_GLUE_JOB_NAMES", default=[DIEP_DEFAULT_GLUE_JOB_NAME])
if DIEP_DEFAULT_GLUE_JOB_NAME not in DIEP_GLUE_JOB_NAMES:
    raise ImproperlyConfigured("DIEP_GLUE_JOB_NAMES must include DIEP_DEFAULT_GLUE_JOB_NAME")
# Glue run tracking: pages of GetJobRuns (200 runs each) a poll or an adoption scan reads.
DIEP_GLUE_POLL_MAX_PAGES = env.int("DIEP_GLUE_POLL_MAX_PAGES", default=5)
DIEP_GLUE_ADOPT_MAX_PAGES = env.int("DIEP_GLUE_ADOPT_MAX_PAGES", default=3)
# A STARTING run with no engine id for this long lost its worker mid-start.
DIEP_STALE_START_SECONDS = env.int("DIEP_STALE_START_SECONDS", default=120)
# Backoff when Glue's concurrency limit refuses a start, and between automatic retries.
DIEP_ADMISSION_BACKOFF_SECONDS = env.int("DIEP_ADMISSION_BACKOFF_SECONDS", default=15)
DIEP_ADMISSION_BACKOFF_MAX_SECONDS = env.int("DIEP_ADMISSION_BACKOFF_MAX_SECONDS", default=600)
DIEP_RETRY_BACKOFF_SECONDS = env.int("DIEP_RETRY_BACKOFF_SECONDS", default=60)
DIEP_RETRY_BACKOFF_MAX_SECONDS = env.int("DIEP_RETRY_BACKOFF_MAX_SECONDS", default=3600)
# The DynamoDB mirror of jobs and runs (names of the two tables).
DIEP_DYNAMODB_JOBS_TABLE = env.str("DIEP_DYNAMODB_JOBS_TABLE", default="diep-jobs")
DIEP_DYNAMODB_RUNS_TABLE = env.str("DIEP_DYNAMODB_RUNS_TABLE", default="diep-job-runs")
# Event-driven ingestion: the queue S3 notifications land in, where manifests go.
DIEP_INGEST_QUEUE = env.str("DIEP_INGEST_QUEUE", default="diep-ingest-events")
DIEP_INGEST_DLQ = env.str("DIEP_INGEST_DLQ", default="diep-ingest-events-dlq")
DIEP_ARTIFACTS_BUCKET = env.str("DIEP_ARTIFACTS_BUCKET", default="diep-artifacts")
# How long the consumer keeps a received batch hidden; extended while it works on it.
DIEP_CONSUMER_VISIBILITY_SECONDS = env.int("DIEP_CONSUMER_VISIBILITY_SECONDS", default=120)
# Messages gathered (several receives) into one transaction while the queue is busy.
DIEP_CONSUMER_MAX_BATCH = env.int("DIEP_CONSUMER_MAX_BATCH", default=100)
# Grace past a job's timeout before DIEP stops a run Glue has not ended itself.
DIEP_TIMEOUT_GRACE_SECONDS = env.int("DIEP_TIMEOUT_GRACE_SECONDS", default=300)
# Upper bound on how long `fire_job --wait` and the e2e helpers follow a run.
DIEP_RUN_WAIT_TIMEOUT_SECONDS = env.int("DIEP_RUN_WAIT_TIMEOUT_SECONDS", default=3600)

# ---------------------------------------------------------------- schedules and alerts
# Scheduled jobs due this long ago at most still count as on time with catch_up "none".
DIEP_SCHEDULE_GRACE_SECONDS = env.int("DIEP_SCHEDULE_GRACE_SECONDS", default=60)
# Named webhook URLs (JSON object): jobs name them, so the secret URLs stay here.
DIEP_ALERT_WEBHOOKS: dict[str, str] = env.json("DIEP_ALERT_WEBHOOKS", default={})
# Hosts webhook URLs may point at (empty: any); and every one is https outside DEBUG, so
# a typo'd or planted URL cannot carry alert bodies to an internal or plain-text address.
DIEP_ALERT_WEBHOOK_HOSTS = env.list("DIEP_ALERT_WEBHOOK_HOSTS", default=[])
for _name, _url in DIEP_ALERT_WEBHOOKS.items():
    _parts = urlsplit(str(_url))
    if _parts.scheme != "https" and not (DEBUG and _parts.scheme == "http"):
        raise ImproperlyConfigured(f"DIEP_ALERT_WEBHOOKS[{_name!r}] must be an https:// URL")
    if DIEP_ALERT_WEBHOOK_HOSTS and _parts.hostname not in DIEP_ALERT_WEBHOOK_HOSTS:
        raise ImproperlyConfigured(
            f"DIEP_ALERT_WEBHOOKS[{_name!r}] points at {_parts.hostname!r}, "
            "which DIEP_ALERT_WEBHOOK_HOSTS does not list"
        )
# Domains job alert e-mails may go to (empty: any); platform alerts are the admins'.
DIEP_ALERT_EMAIL_DOMAINS = [d.lower() for d in env.list("DIEP_ALERT_EMAIL_DOMAINS", default=[])]
DIEP_ALERT_EMAIL_FROM = env.str("DIEP_ALERT_EMAIL_FROM", default="diep@localhost")
DIEP_ALERT_MAX_ATTEMPTS = env.int("DIEP_ALERT_MAX_ATTEMPTS", default=6)
DIEP_ALERT_BACKOFF_SECONDS = env.int("DIEP_ALERT_BACKOFF_SECONDS", default=30)
# The most one delivery may take, connection to last byte.
DIEP_ALERT_DELIVERY_DEADLINE_SECONDS = env.float("DIEP_ALERT_DELIVERY_DEADLINE_SECONDS", default=15)
# Who hears of platform problems (a DLQ filling up), and the depth that is a problem.
DIEP_OPS_ALERT_EMAILS = env.list("DIEP_OPS_ALERT_EMAILS", default=[])
DIEP_OPS_ALERT_WEBHOOKS = env.list("DIEP_OPS_ALERT_WEBHOOKS", default=[])
DIEP_DLQ_ALERT_DEPTH = env.int("DIEP_DLQ_ALERT_DEPTH", default=1)
# Finished runs, their events and ledger rows older than this are purged (0 = keep).
DIEP_RETENTION_DAYS = env.int("DIEP_RETENTION_DAYS", default=90)
# smtp+tls://user:password@host:587 in production; the console in the embedded stack.
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = 10

# ---------------------------------------------------------------- local engine
# A local-engine run reports a heartbeat this often (and checks for Stop then); one
# silent for DIEP_LOCAL_STALE_SECONDS lost its worker and fails (retries then apply).
DIEP_LOCAL_HEARTBEAT_SECONDS = env.int("DIEP_LOCAL_HEARTBEAT_SECONDS", default=5)
DIEP_LOCAL_STALE_SECONDS = env.int("DIEP_LOCAL_STALE_SECONDS", default=120)

# ---------------------------------------------------------------- provisioning
# The buckets DIEP owns: files land in raw, the ETL writes curated, DIEP's own objects
# (manifests, job specs, the Glue script and library zip) live in artifacts.
DIEP_RAW_BUCKET = env.str("DIEP_RAW_BUCKET", default="diep-raw")
DIEP_CURATED_BUCKET = env.str("DIEP_CURATED_BUCKET", default="diep-curated")
# The role AWS Glue runs our job as (created outside DIEP: IAM is an account decision).
DIEP_GLUE_ROLE_ARN = env.str(
    "DIEP_GLUE_ROLE_ARN", default="arn:aws:iam::123456789012:role/diep-glue"
)
DIEP_GLUE_VERSION = env.str("DIEP_GLUE_VERSION", default="5.1")
DIEP_GLUE_WORKER_TYPE = env.str("DIEP_GLUE_WORKER_TYPE", default="G.1X")
DIEP_GLUE_NUMBER_OF_WORKERS = env.int("DIEP_GLUE_NUMBER_OF_WORKERS", default=2)
DIEP_GLUE_MAX_CONCURRENT_RUNS = env.int("DIEP_GLUE_MAX_CONCURRENT_RUNS", default=10)
# Glue's price per DPU-hour in your region, for the run page's cost estimate.
DIEP_GLUE_DPU_HOUR_USD = env.float("DIEP_GLUE_DPU_HOUR_USD", default=0.44)
# Receives before SQS moves a message to the DLQ; below 5 an in-flight message that
# a slow or restarted consumer could still handle is lost to the DLQ.
DIEP_DLQ_MAX_RECEIVE_COUNT = env.int("DIEP_DLQ_MAX_RECEIVE_COUNT", default=5)
if DIEP_DLQ_MAX_RECEIVE_COUNT < 5:
    raise ImproperlyConfigured("DIEP_DLQ_MAX_RECEIVE_COUNT must be at least 5")
# Apply a job's bucket notification as soon as its trigger is created or changed.
DIEP_AUTO_PROVISION = env.bool("DIEP_AUTO_PROVISION", default=False)
# Also route Glue Job State Change events (EventBridge) to the ingestion queue.
DIEP_PROVISION_GLUE_EVENTS = env.bool("DIEP_PROVISION_GLUE_EVENTS", default=False)

# ---------------------------------------------------------------- logging
LOG_LEVEL = env.str("DIEP_LOG_LEVEL", default="INFO")
# Bearer token /metrics requires when set (Prometheus: authorization.credentials).
DIEP_METRICS_TOKEN = env.str("DIEP_METRICS_TOKEN", default="")
# Without a token /metrics answers 401 (it names every job), unless opened explicitly
# here; `check --deploy` warns when it is.
DIEP_METRICS_PUBLIC = env.bool("DIEP_METRICS_PUBLIC", default=False)
# "json" (one object per line, for log pipelines: the default in production) or "plain"
# (readable: the default with DJANGO_DEBUG and in the embedded stack).
LOG_FORMAT = env.str("DIEP_LOG_FORMAT", default="plain" if DEBUG else "json")
LOG_CELERY_TASKS = env.bool("DIEP_LOG_CELERY_TASKS", default=False)
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("DIEP_LOG_FORMAT must be json or plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "diep_portal.log.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "()": "diep_portal.log.KeyValueFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # django-axes logs every successful login's (empty) reset at INFO.
        "axes": {"level": "WARNING"},
        # Celery's "Task received/succeeded" and Beat's "Sending due task" lines, several
        # a second for the maintenance ticks, drown the run transitions; failures are
        # still logged (WARNING and up). DIEP_LOG_CELERY_TASKS=true shows them.
        **{
            name: {"level": "INFO" if LOG_CELERY_TASKS else "WARNING"}
            for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
        },
    },
}
