"""RecSite settings: one module, driven by environment variables.

With nothing set, the site runs on SQLite and a file-system Celery broker under ``var/``,
so ``make run`` works on any machine. Production sets ``DATABASE_URL`` and ``CELERY_BROKER_URL``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import plotly


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("RECSITE_VAR_DIR", str(BASE_DIR / "var")))

# --- Core -----------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("RECSITE_REQUIRE_SECRET_KEY", False):
        raise RuntimeError("SECRET_KEY must be set in production")
    # A local, per-checkout key: fine for the embedded default, never for production.
    SECRET_KEY = "recsite-insecure-local-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "catalog",
    "recommender",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "recsite.middleware.RejectNulInQueryMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "recsite.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "recsite.urls"
WSGI_APPLICATION = "recsite.wsgi.application"
ASGI_APPLICATION = "recsite.asgi.application"

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
                "catalog.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to the same file: WAL lets readers run beside a
    # writer, IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests get a file too, not Django's shared-cache in-memory database: that one locks whole
    # tables between threads, so a test's worker thread fails with "database table is locked".
    _db_file = Path(DATABASES["default"]["NAME"])
    _db_file.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    DATABASES["default"]["TEST"] = {"NAME": str(_db_file.with_name(f"test_{_db_file.name}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
# plotly.js is served from the copy inside the installed plotly package: no CDN, no vendored copy.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/plotly", str(Path(plotly.__file__).parent / "package_data")),
]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# WhiteNoise serves static files under gunicorn too; with finders it works even before
# `collectstatic` has been run (production should still run it, for compressed copies).
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Uploads and imports --------------------------------------------------------------------
# Uploads larger than this stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
RECSITE_IMPORT_MAX_BYTES = env_int("RECSITE_IMPORT_MAX_BYTES", 2 * 1024 * 1024 * 1024)
RECSITE_IMPORT_CHUNK_ROWS = env_int("RECSITE_IMPORT_CHUNK_ROWS", 200_000)
RECSITE_IMPORT_MAX_ERRORS = env_int("RECSITE_IMPORT_MAX_ERRORS", 10_000)
# An interaction load of at least this many rows that outnumbers the stored interactions is
# merged by dropping and rebuilding the table's indexes (locks the table; catalog/bulk_merge.py).
RECSITE_IMPORT_BULK_MIN_ROWS = env_int("RECSITE_IMPORT_BULK_MIN_ROWS", 100_000)
# PostgreSQL work_mem and maintenance_work_mem of the merge transaction (one sort, index builds).
RECSITE_IMPORT_MERGE_MEMORY_MB = env_int("RECSITE_IMPORT_MERGE_MEMORY_MB", 512)
RECSITE_RATING_MIN = env_float("RECSITE_RATING_MIN", 0.5)
RECSITE_RATING_MAX = env_float("RECSITE_RATING_MAX", 5.0)
RECSITE_MIN_INTERACTIONS_PER_RATER = env_int("RECSITE_MIN_INTERACTIONS_PER_RATER", 5)

# --- ML -------------------------------------------------------------------------------------
RECSITE_DEVICE = env_str("RECSITE_DEVICE", "cpu")
RECSITE_TORCH_THREADS = env_int("RECSITE_TORCH_THREADS", 0)  # 0: one per core
RECSITE_HEARTBEAT_SECONDS = env_float("RECSITE_HEARTBEAT_SECONDS", 30.0)

# --- Serving --------------------------------------------------------------------------------
# A served list is reused while the rater's and the shared data are unchanged, at most this
# long (0: never reused); see recommender/list_cache.py.
RECSITE_LIST_CACHE_SECONDS = env_int("RECSITE_LIST_CACHE_SECONDS", 600)
# Impressions (served lists) are written in batches: when this many are waiting or the oldest
# has waited this long (1 / 0: each one at once); see recommender/services/impressions.py.
RECSITE_IMPRESSION_BATCH = env_int("RECSITE_IMPRESSION_BATCH", 100)
RECSITE_IMPRESSION_FLUSH_SECONDS = env_float("RECSITE_IMPRESSION_FLUSH_SECONDS", 2.0)

# --- Celery ---------------------------------------------------------------------------------
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files under var/broker, so no server is needed.
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True  # status lives in the database rows
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"recommender.tasks.training_*": {"queue": "training"}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_TASKS_PER_CHILD = 20
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # A worker that dies mid-job stops its heartbeat; these mark such runs and imports failed.
    "stale-runs-fail": {"task": "recommender.tasks.stale_runs_fail_task", "schedule": 60.0},
    "stale-imports-fail": {"task": "catalog.tasks.stale_imports_fail_task", "schedule": 60.0},
    # The operator's retraining policy (schedule / after N new interactions) is checked here.
    "retrain-check": {"task": "recommender.tasks.retrain_check_task", "schedule": 300.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Cache ----------------------------------------------------------------------------------
# API throttling counts requests in the cache, so every web process must see the same cache:
# Redis when CACHE_URL (or REDIS_URL) is set, else files under var/cache, which the processes
# of one machine share without a server. Django's per-process memory cache would let each
# gunicorn worker grant the full rate again.
CACHE_URL = env_str("CACHE_URL", "") or env_str("REDIS_URL", "")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise RuntimeError("CACHE_URL must be a Redis URL (redis://, rediss:// or unix://)")
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "catalog.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "recsite.api.exception_handler",
    # JSON bodies only (the import upload sets its own multipart parser): form encodings cannot
    # carry the objects and lists these endpoints take, so the schema should not offer them.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["catalog.authentication.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env_str("RECSITE_API_RATE", "6000/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "RecSite API",
    "DESCRIPTION": "Recommendations, catalog data, imports and training runs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request components, so required strings carry minLength 1 and no read-only ids.
    "COMPONENT_SPLIT_REQUEST": True,
    "OAS_VERSION": "3.1.0",  # nullable fields as JSON Schema types, so tests validate with it
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Documents the common error body and the error statuses of every operation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "recsite.schema.document_error_responses",
    ],
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
