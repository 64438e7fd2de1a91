"""Pitwall settings. Every value that varies by deployment comes from the environment via f1site.env.

Embedded defaults (no DATABASE_URL / REDIS_URL): a WAL-mode SQLite file under var/, an in-process
cache and eagerly-run Celery tasks, so the quick start needs no services.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from celery.app.backends import BACKEND_ALIASES
from corsheaders import defaults as cors_defaults
from django.core.exceptions import ImproperlyConfigured
from kombu.transport import TRANSPORT_ALIASES

from f1site.env import (
    env_bool,
    env_choice,
    env_float,
    env_http_url,
    env_int,
    env_list,
    env_rate_limit,
    env_redis_url,
    env_report_uri,
    env_str,
    env_throttle_rate,
    env_transport_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PITWALL_VAR_DIR", str(BASE_DIR / "var")))

# --- core -------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
_INSECURE_KEY = "django-insecure-pitwall-development-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY") or _INSECURE_KEY
if not DEBUG and (
    SECRET_KEY == _INSECURE_KEY
    or len(SECRET_KEY) < 32
    or SECRET_KEY.startswith(("django-insecure", "change-me"))  # .env.example's placeholder: public
):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing, a default or placeholder, or shorter than 32 characters while DEBUG is off. "
        "Set SECRET_KEY (e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))') or DEBUG=true."
    )
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"], allow_empty=False
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "corsheaders",
    "csp",  # django-csp: its system checks (csp.E001/E002) run with the others
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "ingestion",
    "predictions",
    "analytics",
]

MIDDLEWARE = [
    "f1site.middleware.RequestIdMiddleware",
    # after a Redis outage, replays the cache invalidations refused meanwhile (f1site.cache)
    "f1site.middleware.CacheReplayMiddleware",
    "f1site.observability.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy (django-csp; see the security section below): after whitenoise, so
    # static files go out as they are; before the rest, so their early answers (CSRF 403, lockout,
    # redirects) carry it too
    "f1site.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "f1site.middleware.DomainErrorMiddleware",  # last: its process_exception sees a view's error first
]

ROOT_URLCONF = "f1site.urls"
WSGI_APPLICATION = "f1site.wsgi.application"

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

# --- database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
DATABASE_SERVER_SIDE_BINDING = env_bool("DATABASE_SERVER_SIDE_BINDING", True)
DATABASE_PREPARE_THRESHOLD = env_int("DATABASE_PREPARE_THRESHOLD", 5, minimum=0)
if DATABASE_URL:
    try:
        DATABASES = {
            "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
        }
    except Exception as exc:  # dj_database_url raises several types; one clear message
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    # Server-side binding lets psycopg 3 prepare a statement once a connection has run it
    # DATABASE_PREPARE_THRESHOLD times: PostgreSQL then skips parsing and planning it, most of the
    # database time of the uncached API lists (uncached standings ~2x requests/s; README "API",
    # benchmark). On by default since the whole suite passes with it. Caveats: a parameter where
    # PostgreSQL cannot infer its type (an untyped %s in a SELECT list) is an error instead of a
    # literal; and it needs session-level connections (direct, or pgbouncer in session mode, or
    # transaction mode >= 1.21 with max_prepared_statements): an older transaction-mode pooler
    # hands the next transaction a server connection that does not know the statement.
    # Read (and validated) whatever the engine; applied to PostgreSQL only.
    if DATABASE_SERVER_SIDE_BINDING and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=DATABASE_PREPARE_THRESHOLD
        )
    DATABASES["default"].setdefault("TEST", {})
    if env_str("TEST_DATABASE_NAME"):
        DATABASES["default"]["TEST"]["NAME"] = env_str("TEST_DATABASE_NAME")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "pitwall.sqlite3",
            "OPTIONS": {
                # WAL lets a worker and the web process share the file; IMMEDIATE avoids
                # "database is locked" upgrades from read to write transactions.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache ------------------------------------------------------------------------------------
# Resilient cache layer (f1site/cache.py): short socket timeouts + a per-process circuit breaker so a
# dead or hung Redis costs at most one timeout per cooldown; stale copies + a lock against stampedes.
REDIS_URL = env_redis_url("REDIS_URL")
CACHE_TTL_STATIC = env_int("CACHE_TTL_STATIC", 604800, minimum=0)  # drivers, teams, circuits: 7 days
CACHE_TTL_DYNAMIC = env_int("CACHE_TTL_DYNAMIC", 300, minimum=0)  # weather, practice, live: 5 minutes
CACHE_TTL_STANDINGS = env_int("CACHE_TTL_STANDINGS", 3600, minimum=0)  # 1 hour
CACHE_TTL_PREDICTIONS = env_int("CACHE_TTL_PREDICTIONS", 1800, minimum=0)  # 30 minutes
CACHE_SOCKET_TIMEOUT = env_float("CACHE_SOCKET_TIMEOUT", 0.2, lo=0.01, hi=30)
CACHE_BREAKER_FAILURES = env_int("CACHE_BREAKER_FAILURES", 2, minimum=1)
CACHE_BREAKER_COOLDOWN = env_float("CACHE_BREAKER_COOLDOWN", 2.0, lo=0.05, hi=600)
CACHE_STALE_GRACE = env_int("CACHE_STALE_GRACE", 300, minimum=0)  # how long a stale copy may be served
# A recompute lock expires if its owner dies; a cold miss waits at most CACHE_LOCK_WAIT for the winner.
CACHE_LOCK_TIMEOUT = env_int("CACHE_LOCK_TIMEOUT", 30, minimum=1)
CACHE_LOCK_WAIT = env_float("CACHE_LOCK_WAIT", 5.0, lo=0, hi=60)
# Bumped with any change to what a cached entry holds (a response's fields, a page's HTML, an
# analytics dict): Django's cache VERSION is in every key, so a deploy starts from an empty
# namespace instead of serving the old shape for up to CACHE_TTL_STATIC (7 days). 2: season points
# with sprints (race_points / sprint_points). 3: analytics entries / starts / non_starts and points
# to two decimals, the pages' new wording, tables and htmx restore split. 4: a did-not-start entry
# (result letter W, e.g. status "Driveshaft") is no race start in the analytics counts. 5: analytics
# `championship.excluded`, shared-car winners and the race table's pit-lane / disqualified cells.
# 6: a cached page keeps its HX-* headers (a 4-tuple); the what-if's out-of-range grid wording;
# the drivers and teams lists in dictionary order; the what-if answer's rows shaped as stored ones.
# 7: the pages' tables in focusable, named scroll boxes (the accessibility gate).
# 8: the analytics' public ids beside their primary keys (`teammate`, `wet_race_list`, the
# strategy rows' `race`): a cached analytics answer without them would break the schema.
# 9: the analytics' `driver` / `team` objects carry `id` beside `ref` (the analytics dicts are cached
# apart from the API body, under f1:analytics:…, for CACHE_TTL_STANDINGS); the pages' chart
# labels in rows of their own and the end-of-season home page; the season rows' and careers' wins,
# podiums and poles count a 1950s shared car once for its team, a pole only for its starter; the
# home page as of a clock links its races with `?as_of=` (reworded notice), and the race page and
# its "Why?" read `as_of`. 10: every link of a page as of a clock keeps it (home, race, driver, team,
# what-if; the menu marks the pages without one), and the driver's and team's pages and analytics
# read `as_of` (keys `…:at:{clock}`). 11: the calendar and standings pages and the standings and
# progression entries read `as_of` (keys `…:at:{clock}`); the what-if is made as of a clock (its
# base keyed by the clock) and its answer names its model version. 12: the championship and model
# pages read `as_of` (the simulation's entry `…:at:{clock}`), and the menu of every page as of a
# clock keeps the clock for them (cached pages linked them "(today)"). 13: at a clock a race's results
# are known from start + 3 h, not its start (entries `…:at:{clock}` cached mid-race held its
# classification), the drivers/teams lists and every other operation read or refuse `as_of`, and
# the model page names the version a what-if runs. 14: the championship at a clock simulates a round
# run without results stored (its `…:at:{clock}` entries left it out); a team's reliability counts
# classified mechanical retirements, per car; a driver's circuit history counts races; the
# progression entries include an excluded driver, one label rule; the home card of a set not
# scored yet says so. 15: the what-if answer says whether it is in hindsight (`hindsight`, the
# page's note); the home page's and overview's awaiting results keep a race of the latest completed
# race's season left without results; the race page's what-if button at a clock says why it is
# off; races/{id} lists a shared car's drivers in the source's order.
CACHE_FORMAT = 15
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "pitwall"),
            "VERSION": CACHE_FORMAT,
            "TIMEOUT": CACHE_TTL_DYNAMIC,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": CACHE_SOCKET_TIMEOUT,
                "SOCKET_TIMEOUT": CACHE_SOCKET_TIMEOUT,
                "CONNECTION_POOL_CLASS": "f1site.cache.CircuitBreakerConnectionPool",
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    # The breaker logs open/close transitions once; a traceback per refused command would flood logs.
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "pitwall",
            "VERSION": CACHE_FORMAT,
            "TIMEOUT": CACHE_TTL_DYNAMIC,
        }
    }
# Embedded mode: each process has its own cache; invalidations touch this stamp and the web
# process drops its cache when another process (a management command) touched it (f1site.cache).
LOCAL_CACHE_STAMP = None if REDIS_URL else VAR_DIR / "cache.stamp"
if LOCAL_CACHE_STAMP is not None:
    MIDDLEWARE.insert(1, "f1site.middleware.LocalCacheSyncMiddleware")
# f1site as an app so its ready() connects cache invalidation to sync/prediction/admin signals in
# every process (web, Celery worker), not only where URLs are imported.
INSTALLED_APPS.append("f1site.apps.PitwallSiteConfig")

# --- celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = (
    env_transport_url("CELERY_BROKER_URL", schemes=set(TRANSPORT_ALIASES), what="Celery broker")
    or REDIS_URL
    or "memory://"
)
CELERY_RESULT_BACKEND = (
    env_transport_url("CELERY_RESULT_BACKEND", schemes=set(BACKEND_ALIASES), what="Celery result backend")
    or REDIS_URL
    or "cache+memory://"
)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1700, minimum=1)
# DatabaseScheduler plus a Redis lock so a second beat process refuses to start (exactly one beat).
CELERY_BEAT_SCHEDULER = "ingestion.services.jobs:SingleBeatScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
DJANGO_CELERY_BEAT_TZ_AWARE = True
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = env_int("CELERY_RESULT_EXPIRES", 86400, minimum=60)
# A message not acked within the visibility timeout is redelivered: keep it above the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * CELERY_TASK_TIME_LIMIT, minimum=60)
}
# A broker blip must not cost a running job. On (Celery 6's future default), the worker kills a
# running late-ack task when its broker connection drops, counting on the message being restored;
# the Redis transport cannot restore it while Redis is away, so the message was lost and the job
# never re-ran (QA; tests/ingestion/services/test_worker_broker_blip.py). Off, the job finishes and
# records itself; its ack may fail with the old channel, and a redelivery of that message then finds
# the succeeded JobRun of its task id and is skipped (jobs.job_run_execute). Celery warns about this
# choice on each connection loss.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Job locks (one run per job at a time) live in Redis with this TTL, renewed by a heartbeat while
# the job runs, so a killed worker's lock frees itself within JOB_LOCK_TTL seconds.
JOB_LOCK_REDIS_URL = env_redis_url("JOB_LOCK_REDIS_URL") or REDIS_URL
JOB_LOCK_TTL = env_int("JOB_LOCK_TTL", 60, minimum=2)
JOB_RUN_RETENTION_DAYS = env_int("JOB_RUN_RETENTION_DAYS", 90, minimum=1)
# Enqueues someone waits on (admin "run now", `run_job --enqueue`, the API's background regeneration)
# connect once within JOB_ENQUEUE_TIMEOUT seconds (refused: at once; hung: after the timeout) and say
# so when the broker is down (f1site.celery.task_publish); JOB_ENQUEUE_RETRIES retries only a publish
# that fails on an established connection. Worker and beat keep Celery's more patient defaults.
# The same budget bounds /health's broker probe and the liveness reads of /health and jobs/status.
JOB_ENQUEUE_TIMEOUT = env_float("JOB_ENQUEUE_TIMEOUT", 2.0, lo=0.1, hi=30)
JOB_ENQUEUE_RETRIES = env_int("JOB_ENQUEUE_RETRIES", 1, minimum=0)
# jobs/status flags a job `overdue` once its due time is this many seconds past (beat ticks <= 20 s).
JOB_OVERDUE_GRACE = env_int("JOB_OVERDUE_GRACE", 60, minimum=0)
# Liveness (ingestion.services.liveness): workers and the beat write a heartbeat every
# LIVENESS_HEARTBEAT_SECONDS; /health degrades and jobs/status says "missing" once none has been seen
# for LIVENESS_MAX_SILENCE_SECONDS. The beat writes from its tick (at least every 20 s), so the
# threshold must cover 3 heartbeats plus a tick, or a live beat would flap to missing.
LIVENESS_HEARTBEAT_SECONDS = env_int("LIVENESS_HEARTBEAT_SECONDS", 15, minimum=1)
LIVENESS_MAX_SILENCE_SECONDS = env_int("LIVENESS_MAX_SILENCE_SECONDS", 90, minimum=1)
if LIVENESS_MAX_SILENCE_SECONDS < 3 * LIVENESS_HEARTBEAT_SECONDS + 20:
    raise ImproperlyConfigured(
        f"LIVENESS_MAX_SILENCE_SECONDS={LIVENESS_MAX_SILENCE_SECONDS} must be >= 3 x "
        f"LIVENESS_HEARTBEAT_SECONDS + 20 = {3 * LIVENESS_HEARTBEAT_SECONDS + 20}"
    )
# Stale job runs (ingestion.services.stale_runs): a running JobRun whose process has not
# heartbeated for LIVENESS_MAX_SILENCE_SECONDS is closed `interrupted`; one no worker has picked up
# (a queued regeneration or race resync) is closed `failed` after JOB_QUEUED_MAX_SECONDS. A queued
# message waits for a free worker slot, at most about one task time limit when every slot is busy
# with a long task, so the default is CELERY_TASK_TIME_LIMIT (the bound the regeneration guard
# already used for "lost"); lower, a message still legitimately waiting would be given up.
JOB_QUEUED_MAX_SECONDS = env_int("JOB_QUEUED_MAX_SECONDS", CELERY_TASK_TIME_LIMIT, minimum=60)
LIVE_POLL_INTERVAL = env_int("LIVE_POLL_INTERVAL", 30, minimum=5)
LIVE_SNAPSHOT_RETENTION_DAYS = env_int("LIVE_SNAPSHOT_RETENTION_DAYS", 7, minimum=1)
OPENF1_BREAKER_THRESHOLD = env_int("OPENF1_BREAKER_THRESHOLD", 3, minimum=1)
OPENF1_BREAKER_PROBE_SECONDS = env_int("OPENF1_BREAKER_PROBE_SECONDS", 30, minimum=1)
# OpenF1 allows about 30 requests per 10 s; the budget is shared by every worker through Redis.
OPENF1_RATE_LIMIT = env_rate_limit("OPENF1_RATE_LIMIT", "30/10s")

# --- auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = 1  # hours
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env_bool("AXES_ENABLED", True)
# Lock an account per client address, not the whole address: axes' default (["ip_address"]) let one
# client behind a shared address (an office NAT, the Next.js server) lock every staff login for an
# hour by failing on any username.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client address as the API throttles see it (API_NUM_PROXIES-aware), not REMOTE_ADDR alone.
AXES_CLIENT_IP_CALLABLE = "f1site.throttling.client_address"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# One static storage whatever DEBUG says, so `collectstatic` writes the same hashed + compressed
# files and manifest under `make up` (DEBUG=true) as under `make release`, and `make serve` (DEBUG
# off) finds them: with the storage chosen by DEBUG, collectstatic after `make up` wrote no
# manifest and every page of `make serve` was a 500 ("Missing staticfiles manifest entry"). With
# DEBUG on, Django's manifest storage gives unhashed URLs and reads no manifest, so runserver needs
# no collectstatic. gunicorn refuses to start on a missing or stale manifest
# (f1site/static_check.py). STATIC_MANIFEST=false (tests, benchmarks) serves unhashed files.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- security (clean under `check --deploy` when DEBUG is off) --------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp: Django 5.2 has no CSP support of its own; it came in 6.0). Every
# HTML page may load scripts, styles, images, fonts and XHR from this site only, and runs no inline
# script or style: the templates carry no `style=` attribute and no inline <script> (probability
# bars are SVG, sizes are CSS classes), htmx's indicator <style> is off (`includeIndicatorStyles`
# in base.html's <meta name="htmx-config">; the rules are in pitwall.css) and so is its eval, which
# no page uses. No <object>/<embed>, no <base>, forms post here only, and no site may frame a page
# (as X-Frame-Options: DENY). The API docs pages add what their bundles need (f1site/urls.py); a
# response that is not HTML (the JSON API, the schema, /metrics) gets `default-src 'none'`
# (f1site.middleware.ContentSecurityPolicyMiddleware). CSP_REPORT_ONLY sends the same policy as
# Content-Security-Policy-Report-Only instead (browsers report, block nothing: try a change out);
# CSP_REPORT_URI is where browsers POST their reports. Kept in lower-case names: settings named
# CSP_REPORT_ONLY / CSP_REPORT_URI are django-csp 3.x's, and version 4 fails its check csp.E001 on them.
_csp_report_only = env_bool("CSP_REPORT_ONLY", False)
_csp_report_uri = env_report_uri("CSP_REPORT_URI")
_csp_policy = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],  # no page or admin stylesheet uses a data: image
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": [_csp_report_uri] if _csp_report_uri else None,
    }
}
CONTENT_SECURITY_POLICY = None if _csp_report_only else _csp_policy
CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp_policy if _csp_report_only else None
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 262144, minimum=1024)
SILENCED_SYSTEM_CHECKS = [
    # Deferrable unique constraints exist for PostgreSQL; SQLite (embedded default) ignores them.
    "models.W038",
]

# --- API --------------------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", ["http://localhost:3001"])
CORS_URLS_REGEX = r"^/api/.*$"
# Response headers a browser frontend on another origin may read (CORS hides all but a few simple
# ones): ETag / Last-Modified for conditional requests, Location of a 202's job, Retry-After of a
# 429/503, the request id to quote in a bug report.
CORS_EXPOSE_HEADERS = ["ETag", "Last-Modified", "Location", "Retry-After", "X-Request-ID"]
# Request headers a cross-origin script may send (the preflight's Access-Control-Allow-Headers):
# django-cors-headers' defaults plus the conditional-request headers that turn the exposed ETag /
# Last-Modified into a 304 — neither is CORS-safelisted, so a `fetch` setting If-None-Match was
# refused by its preflight (API review: ETag exposed "for conditional requests" that no browser
# script could make).
CORS_ALLOW_HEADERS = (*cors_defaults.default_headers, "if-none-match", "if-modified-since")
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50, minimum=1)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 200, minimum=1)
# At most one staff-triggered regeneration per race per this many seconds (duplicates get the job).
API_REGENERATE_WINDOW = env_int("API_REGENERATE_WINDOW", 60, minimum=1)
INSTALLED_APPS.append("drf_spectacular_sidecar")  # Swagger UI / Redoc assets served locally, no CDN
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # ?format= no renderer has: 406 not_acceptable like an unsatisfiable Accept (DRF's default: 404)
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "f1site.negotiation.ContentNegotiation",
    # One cache INCR per request per client (fixed window); see f1site.throttling.
    "DEFAULT_THROTTLE_CLASSES": ["f1site.throttling.WindowThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_throttle_rate("API_THROTTLE_ANON", "600/min"),
        "user": env_throttle_rate("API_THROTTLE_USER", "2000/min"),
        "expensive": env_throttle_rate("API_THROTTLE_EXPENSIVE", "30/min"),  # what-if, championship
    },
    # Clients are told apart by REMOTE_ADDR; behind N trusted proxies set API_NUM_PROXIES=N so
    # X-Forwarded-For is honoured (otherwise anyone could dodge the throttle by forging it).
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 0, minimum=0),
    "EXCEPTION_HANDLER": "f1site.api.exception_handler",
}
# The fans' HTML pages (analytics/views.py): renders per client, i.e. page-cache misses (a cached page
# is free) and every page for a logged-in user (never cached); same window counter and client
# identity (API_NUM_PROXIES) as the API's throttles. Over it: the site's 429 page with Retry-After.
PAGE_THROTTLE = env_throttle_rate("PAGE_THROTTLE", "300/min")

# What-if (predictions.services.what_if): a race's grid-independent feature rows are built once per
# data state and kept this long; at most WHAT_IF_MAX_BUILDS such builds (~1-2 s of CPU each) run at
# once site-wide, beyond that 503 what_if_busy with Retry-After; a build's slot expires after
# WHAT_IF_BUILD_TIMEOUT seconds (a worker killed mid-build cannot hold it).
WHAT_IF_BASE_TTL = env_int("WHAT_IF_BASE_TTL", 6 * 3600, minimum=60)
WHAT_IF_MAX_BUILDS = env_int("WHAT_IF_MAX_BUILDS", 1, minimum=1)
WHAT_IF_BUILD_TIMEOUT = env_int("WHAT_IF_BUILD_TIMEOUT", 30, minimum=5)
SPECTACULAR_SETTINGS = {
    "TITLE": "Pitwall API",
    "DESCRIPTION": (
        "F1 race predictions, results, standings and analytics. Reads are public; writes need a "
        "staff user's JWT: POST username/password to /api/v1/auth/token/ and send "
        "`Authorization: Bearer <access>`. Errors share one shape: "
        '{"error": {"code", "message", "details"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # no online validator badge: it loads from validator.swagger.io and sends it the schema's URL
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # the default enum hook, then f1site.api's: every operation that takes a JWT lists its 401
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "f1site.api.openapi_token_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RaceStatusEnum": ["scheduled", "awaiting_results", "completed", "removed_upstream"],
        "HealthStatusEnum": ["ok", "degraded", "down"],
        "JobStatusEnum": ["queued", "running", "succeeded", "failed"],
        "LivenessStatusEnum": ["ok", "missing", "unknown"],
        "LivenessModeEnum": ["workers", "eager"],
        "ModeEnum": ["inline", "background"],  # the regeneration job's mode: keep its name
    },
}
# Tokens are signed with SECRET_KEY, so only the HMAC algorithms apply (an RSA/EC one needs a key pair).
JWT_ALGORITHM = env_choice("JWT_ALGORITHM", "HS256", {"HS256", "HS384", "HS512"})
# CHECK_REVOKE_TOKEN: each token carries a hash of the user's password hash, so a password change
# (a leaked password's usual remedy) ends every token issued before it, refresh tokens included
# (checked on refresh by f1site/api_urls.py). Without it they stayed valid (security QA).
SIMPLE_JWT = {"ALGORITHM": JWT_ALGORITHM, "SIGNING_KEY": SECRET_KEY, "CHECK_REVOKE_TOKEN": True}

# --- external sources -------------------------------------------------------------------------
ERGAST_API_BASE = env_http_url("ERGAST_API_BASE", "https://api.jolpi.ca/ergast/f1")
OPENF1_API_BASE = env_http_url("OPENF1_API_BASE", "https://api.openf1.org/v1")
OPENF1_API_TOKEN = env_str("OPENF1_API_TOKEN") or None
WEATHER_API_BASE = env_http_url("WEATHER_API_BASE", "https://api.open-meteo.com/v1")
WEATHER_API_KEY = env_str("WEATHER_API_KEY") or None
# Jolpica's published limits: 4 requests/s burst, 500/hour sustained. A mirror or paid tier can raise them.
ERGAST_RATE_LIMIT = env_rate_limit("ERGAST_RATE_LIMIT", "4/s,500/h")
HTTP_CONNECT_TIMEOUT = env_float("HTTP_CONNECT_TIMEOUT", 5.0, lo=0.1, hi=120)
HTTP_READ_TIMEOUT = env_float("HTTP_READ_TIMEOUT", 30.0, lo=0.1, hi=600)
HTTP_MAX_RETRIES = env_int("HTTP_MAX_RETRIES", 5, minimum=0)
HTTP_BACKOFF_BASE = env_float("HTTP_BACKOFF_BASE", 0.5, lo=0, hi=60)
HTTP_BACKOFF_MAX = env_float("HTTP_BACKOFF_MAX", 30.0, lo=0, hi=3600)
# sync_f1 resumes an unfinished run's cursor only while its oldest step is younger than this: a
# failed 06:00 daily run is resumed by a rerun the same day, not by the next day's job.
SYNC_RESUME_MAX_AGE_HOURS = env_float("SYNC_RESUME_MAX_AGE_HOURS", 12.0, lo=0, hi=24 * 30)

# --- predictions ------------------------------------------------------------------------------
MODEL_STORAGE_PATH = Path(env_str("MODEL_STORAGE_PATH", str(VAR_DIR / "models")))
AUTO_RETRAIN_ENABLED = env_bool("AUTO_RETRAIN_ENABLED", True)
# Inactive versions whose artifact (~1.4 MB each) prune_models / the weekly job keep besides the
# active one: the load fallback's candidates. At least 1, so a broken active artifact has a fallback.
MODEL_ARTIFACTS_KEEP = env_int("MODEL_ARTIFACTS_KEEP", 10, minimum=1)
PREDICTION_CONFIDENCE_THRESHOLD = env_float("PREDICTION_CONFIDENCE_THRESHOLD", 0.7, lo=0, hi=1)

# --- observability ----------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
LOG_FORMAT = env_choice("LOG_FORMAT", "JSON", {"JSON", "TEXT"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "f1site.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "f1site.logging.JsonFormatter"},
        "text": {"()": "f1site.logging.KeyValueFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "JSON" else "text",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
# /metrics (f1site.ops_views): allowed from these networks (REMOTE_ADDR) or with
# "Authorization: Bearer $METRICS_TOKEN". Empty METRICS_ALLOWED_NETWORKS = token only.
METRICS_TOKEN = env_str("METRICS_TOKEN") or None
from ipaddress import ip_network  # noqa: E402 - only this section needs it

try:
    METRICS_ALLOWED_NETWORKS = [
        ip_network(net, strict=False)
        for net in env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from None
# Probes reach the app over plain HTTP inside the network: no HTTPS redirect for these paths.
SECURE_REDIRECT_EXEMPT = [r"^metrics$", r"^api/v1/health$"]
# Alert thresholds (f1site.observability.alerts_evaluate, docs/operations.md).
ALERT_SYNC_STALE_HOURS = env_float("ALERT_SYNC_STALE_HOURS", 26.0, lo=1, hi=24 * 30)
ALERT_JOB_FAILURE_STREAK = env_int("ALERT_JOB_FAILURE_STREAK", 2, minimum=1)
ALERT_API_5XX_RATIO = env_float("ALERT_API_5XX_RATIO", 0.05, lo=0, hi=1)
ALERT_API_MIN_REQUESTS = env_int("ALERT_API_MIN_REQUESTS", 20, minimum=1)
ALERT_API_WINDOW_MINUTES = env_int("ALERT_API_WINDOW_MINUTES", 5, minimum=1)
ALERT_ACCURACY_RACES = env_int("ALERT_ACCURACY_RACES", 5, minimum=1)
ALERT_CACHE_OUTBOX_MINUTES = env_float("ALERT_CACHE_OUTBOX_MINUTES", 10.0, lo=1, hi=24 * 60)

SENTRY_DSN = env_str("SENTRY_DSN") or None
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "production")
SENTRY_RELEASE = env_str("SENTRY_RELEASE") or None  # e.g. the git sha the image was built from
if SENTRY_DSN:  # tests/f1site/test_sentry.py checks both ways, in subprocesses
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        Dsn(SENTRY_DSN)
    except BadDsn as exc:  # sentry's own traceback did not name the variable
        raise ImproperlyConfigured(f"SENTRY_DSN is not a Sentry DSN: {exc}") from None
    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE,
        integrations=[DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=False)],
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0, lo=0, hi=1),
        send_default_pii=False,
    )
