"""Settings fail loudly on bad values and refuse an insecure SECRET_KEY with DEBUG off."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from f1site import env

ROOT = Path(__file__).resolve().parent.parent


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


def _settings_values(expression: str, **overrides) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "REDIS_URL"}}
    environment.update(DEBUG="true", **overrides)
    result = subprocess.run(
        [sys.executable, "-c", f"from f1site import settings as s; print({expression})"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_embedded_cache_is_kept_in_step_across_processes(tmp_path):
    """Without Redis each process caches on its own: the stamp and the middleware that reads it are
    on (see tests/f1site/test_embedded_cache_sync.py); with Redis the cache is shared and both are off."""
    expression = "s.LOCAL_CACHE_STAMP, 'f1site.middleware.LocalCacheSyncMiddleware' in s.MIDDLEWARE"
    embedded = _settings_values(expression, PITWALL_VAR_DIR=str(tmp_path))
    assert embedded == f"{tmp_path / 'cache.stamp'} True"
    shared = _settings_values(expression, REDIS_URL="redis://127.0.0.1:6379/14")
    assert shared == "None False"
