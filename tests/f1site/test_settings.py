"""Settings fail loudly on bad values and refuse an insecure SECRET_KEY with DEBUG off."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from f1site import env

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(**overrides) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    environment.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", "import f1site.settings"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_debug_off_without_secret_key_refuses_to_start():
    result = _import_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is missing" in result.stderr


def test_debug_off_with_strong_secret_key_starts():
    result = _import_settings(DEBUG="false", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr


def test_bad_boolean_fails_loudly(monkeypatch):
    monkeypatch.setenv("AUTO_RETRAIN_ENABLED", "maybe")
    with pytest.raises(ImproperlyConfigured, match="AUTO_RETRAIN_ENABLED"):
        env.env_bool("AUTO_RETRAIN_ENABLED", True)


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_value_is_unset_and_takes_the_default(monkeypatch, blank):
    """QA: `SECURE_SSL_REDIRECT=` (a blanked `.env` line) read as false and switched the redirect off
    silently; `ALLOWED_HOSTS=` gave no host at all, every request a 400."""
    monkeypatch.setenv("SOME_FLAG", blank)
    assert env.env_bool("SOME_FLAG", True) is True
    assert env.env_bool("SOME_FLAG", False) is False
    monkeypatch.setenv("SOME_LIST", blank)
    assert env.env_list("SOME_LIST", ["127.0.0.1/32"]) == []  # a list may be empty: METRICS_ALLOWED_NETWORKS=
    with pytest.raises(ImproperlyConfigured, match="SOME_LIST is set but empty"):
        env.env_list("SOME_LIST", ["localhost"], allow_empty=False)  # ALLOWED_HOSTS= was every request a 400


def test_blank_security_settings_keep_their_production_defaults():
    values = _settings_values(
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.AXES_ENABLED, s.AUTO_RETRAIN_ENABLED, s.METRICS_ALLOWED_NETWORKS",
        DEBUG="false",
        SECRET_KEY="k" * 50,
        SECURE_SSL_REDIRECT="",
        SESSION_COOKIE_SECURE="",
        AXES_ENABLED="",
        AUTO_RETRAIN_ENABLED="",
        METRICS_ALLOWED_NETWORKS="",
    )
    assert values == "True True True True []"  # an empty allow-list: /metrics by token only


def test_out_of_range_float_fails_loudly(monkeypatch):
    monkeypatch.setenv("PREDICTION_CONFIDENCE_THRESHOLD", "1.5")
    with pytest.raises(ImproperlyConfigured, match="PREDICTION_CONFIDENCE_THRESHOLD"):
        env.env_float("PREDICTION_CONFIDENCE_THRESHOLD", 0.7, lo=0, hi=1)


def test_bad_database_url_fails_loudly():
    result = _import_settings(DEBUG="true", DATABASE_URL="nonsense://")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


@pytest.mark.parametrize("value", ["0", "-3", "ten"])
def test_bad_model_artifacts_keep_fails_loudly(value):
    # at least 1: pruning must leave the active version a fallback
    result = _import_settings(DEBUG="true", MODEL_ARTIFACTS_KEEP=value)
    assert result.returncode != 0
    assert "MODEL_ARTIFACTS_KEEP" in result.stderr


def test_model_artifacts_keep_is_read_from_the_environment():
    assert _settings_values("s.MODEL_ARTIFACTS_KEEP") == "10"
    assert _settings_values("s.MODEL_ARTIFACTS_KEEP", MODEL_ARTIFACTS_KEEP="3") == "3"


def _printed(code: str, environment: dict[str, str | None]) -> str:
    """What `code` prints in a fresh interpreter with `environment` (a None value: unset)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={k: v for k, v in environment.items() if v is not None},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _settings_values(expression: str, **overrides) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "REDIS_URL"}}
    environment.update({"DEBUG": "true", **overrides})
    return _printed(f"from f1site import settings as s; print({expression})", environment)


def test_the_cache_outbox_alert_threshold_is_read_from_the_environment():
    assert _settings_values("s.ALERT_CACHE_OUTBOX_MINUTES", ALERT_CACHE_OUTBOX_MINUTES=None) == "10.0"
    assert _settings_values("s.ALERT_CACHE_OUTBOX_MINUTES", ALERT_CACHE_OUTBOX_MINUTES="2.5") == "2.5"


def test_the_page_throttle_default_is_generous():
    # tests/settings.py raises it for the suite; the production default is what fans get
    assert _settings_values("s.PAGE_THROTTLE", PAGE_THROTTLE=None) == "300/min"


def test_embedded_cache_is_kept_in_step_across_processes(tmp_path):
    """Without Redis each process caches on its own: the stamp and the middleware that reads it are
    on (see tests/f1site/test_embedded_cache_sync.py); with Redis the cache is shared and both are off."""
    expression = "s.LOCAL_CACHE_STAMP, 'f1site.middleware.LocalCacheSyncMiddleware' in s.MIDDLEWARE"
    embedded = _settings_values(expression, PITWALL_VAR_DIR=str(tmp_path))
    assert embedded == f"{tmp_path / 'cache.stamp'} True"
    shared = _settings_values(expression, REDIS_URL="redis://127.0.0.1:6379/14")
    assert shared == "None False"


@pytest.mark.parametrize(
    "name, value",
    [
        ("REDIS_URL", "notaurl"),  # made every API request a 500 (django-redis: no scheme)
        ("REDIS_URL", "localhost:6379"),
        ("JOB_LOCK_REDIS_URL", "http://127.0.0.1:6379/0"),
        ("API_THROTTLE_ANON", "many"),  # every API request a 500 (parse_rate on first use)
        ("API_THROTTLE_USER", "0/min"),
        ("API_THROTTLE_EXPENSIVE", "30/fortnight"),
        ("PAGE_THROTTLE", "lots"),  # the pages' render throttle (analytics.views)
        ("JWT_ALGORITHM", "FOO256"),  # the token endpoint a 500
        ("JWT_ALGORITHM", "RS256"),  # needs a key pair; tokens are signed with SECRET_KEY
        ("ERGAST_RATE_LIMIT", "fast"),  # only the first sync failed
        ("OPENF1_RATE_LIMIT", "30/10x"),
        ("ERGAST_API_BASE", "api.jolpi.ca/ergast/f1"),
        ("WEATHER_API_BASE", "ftp://example.org"),
        ("SENTRY_DSN", "garbage"),  # sentry's BadDsn traceback did not name the variable
        ("CELERY_BROKER_URL", "notaurl"),  # failed at the first connection, "Name or service not known"
        ("CELERY_RESULT_BACKEND", "foo://x"),
        ("ALLOWED_HOSTS", " , "),  # no host at all: every request a 400
        ("ALERT_CACHE_OUTBOX_MINUTES", "0"),  # would fire on every refused invalidation at once
        ("ALERT_CACHE_OUTBOX_MINUTES", "soon"),
        ("CSP_REPORT_ONLY", "maybe"),
        ("CSP_REPORT_URI", "/csp-report"),  # browsers need an absolute URL here
        ("CSP_REPORT_URI", "https://reports.example.org/csp; script-src *"),  # a second directive
    ],
)
def test_a_bad_value_fails_at_start_up_naming_the_variable(name, value):
    """QA: these were accepted at start-up (`manage.py check` passed) and failed later, at use, most
    as 500s; the README promises a start-up failure naming the variable."""
    result = _import_settings(DEBUG="true", **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_good_values_of_the_checked_settings_start():
    result = _import_settings(
        DEBUG="true",
        REDIS_URL="rediss://:pw@cache.example:6380/2",
        JOB_LOCK_REDIS_URL="unix:///run/redis.sock?db=1",
        API_THROTTLE_ANON="100/s",
        API_THROTTLE_USER="5000/hour",
        PAGE_THROTTLE="1000/h",
        JWT_ALGORITHM="hs512",
        ERGAST_RATE_LIMIT="4/s, 500/h",
        OPENF1_RATE_LIMIT="",  # empty: unlimited
        ERGAST_API_BASE="http://127.0.0.1:8765/ergast/f1/",
        CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//",
        CELERY_RESULT_BACKEND="db+postgresql://postgres@127.0.0.1/pitwall",
    )
    assert result.returncode == 0, result.stderr
    assert _settings_values("s.ERGAST_API_BASE", ERGAST_API_BASE="http://127.0.0.1:8765/ergast/f1/") == (
        "http://127.0.0.1:8765/ergast/f1"
    )
    assert _settings_values("s.SIMPLE_JWT['ALGORITHM']", JWT_ALGORITHM="hs384") == "HS384"


def test_the_env_example_placeholder_secret_key_is_refused():
    """QA: `.env.example`'s placeholder (70 characters) passed the length check, so a copied file put
    a publicly known signing key in production."""
    placeholder = next(
        line.split("=", 1)[1]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.startswith("SECRET_KEY=")
    )
    result = _import_settings(DEBUG="false", SECRET_KEY=placeholder)
    assert result.returncode != 0 and "placeholder" in result.stderr


def test_env_example_lists_every_variable_the_settings_read():
    """README: "`.env.example` lists them all" (QA: it missed the table's SECURE_SSL_REDIRECT,
    API_PAGE_SIZE, METRICS_*, HTTP_* and every finer setting)."""
    import re

    source = (ROOT / "f1site" / "settings.py").read_text()
    read = set(re.findall(r'env_[a-z_]+\(\s*"([A-Z0-9_]+)"', source)) - {"TEST_DATABASE_NAME"}
    assert {"REDIS_URL", "API_THROTTLE_ANON", "SECURE_SSL_REDIRECT"} <= read  # the pattern finds them
    gunicorn = (ROOT / "gunicorn.conf.py").read_text()
    served = set(re.findall(r'(?:_int|os\.environ\.get)\(\s*"([A-Z0-9_]+)"', gunicorn))
    served -= {"PITWALL_METRICS_DIR_OWNED"}  # set by gunicorn.conf.py itself, for itself
    assert {"WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "FORWARDED_ALLOW_IPS"} <= served
    read |= served
    example = set(re.findall(r"^#? ?([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read - example == set()


def _test_settings_values(expression: str, **overrides: str | None) -> list[str]:
    """`expression` evaluated in a fresh process importing tests.settings (as a child of a test does)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PITWALL_TEST_"))}
    environment.update({"PITWALL_VAR_DIR": "/tmp/pw-var", **overrides})
    return _printed(f"import os, tests.settings as s; print({expression})", environment).split()


def test_each_xdist_worker_gets_its_own_redis_database_and_var_dir_once():
    """`make test` runs two xdist workers; they must share no Redis database or var/ directory, and a
    process started by a test (which inherits the shifted environment) must not shift it again."""
    expression = "s.REDIS_URL, s.CELERY_BROKER_URL, s.VAR_DIR, os.environ['PITWALL_TEST_ISOLATED_WORKER']"
    urls = {"REDIS_URL": "redis://127.0.0.1:6379/15", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15"}
    first = _test_settings_values(expression, PYTEST_XDIST_WORKER="gw0", **urls)
    second = _test_settings_values(expression, PYTEST_XDIST_WORKER="gw1", **urls)
    assert first == ["redis://127.0.0.1:6379/15"] * 2 + ["/tmp/pw-var/gw0", "gw0"]
    assert second == ["redis://127.0.0.1:6379/14"] * 2 + ["/tmp/pw-var/gw1", "gw1"]
    child = _test_settings_values(
        expression,
        PYTEST_XDIST_WORKER="gw1",
        PITWALL_TEST_ISOLATED_WORKER="gw1",
        PITWALL_VAR_DIR="/tmp/pw-var/gw1",
        REDIS_URL="redis://127.0.0.1:6379/14",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/14",
    )
    assert child == second
    # without xdist nothing moves
    assert _test_settings_values("s.REDIS_URL, s.VAR_DIR", **urls) == [
        "redis://127.0.0.1:6379/15",
        "/tmp/pw-var",
    ]
