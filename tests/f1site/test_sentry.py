"""Sentry: off without SENTRY_DSN, on (Django + Celery integrations) with one. Fresh interpreters,
because settings initialise the SDK once at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from django.conf import settings
settings.SENTRY_DSN  # importing the settings module is what initialises (or not) the SDK
import sentry_sdk
client = sentry_sdk.get_client()
print(json.dumps({"active": client.is_active(), "dsn": client.dsn,
                  "integrations": sorted(getattr(client, "integrations", {}) or {}),
                  "environment": client.options.get("environment") if client.is_active() else None,
                  "pii": client.options.get("send_default_pii") if client.is_active() else None}))
"""


def probe(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    clean.update(
        DJANGO_SETTINGS_MODULE="f1site.settings",
        SECRET_KEY="sentry-probe-secret-key-0123456789abcdefghijklmnop",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sentry_stays_off_without_a_dsn():
    assert probe() == {  # SENTRY_DSN unset (SENTRY_* variables are removed from the environment)
        "active": False,
        "dsn": None,
        "integrations": [],
        "environment": None,
        "pii": None,
    }


def test_sentry_reports_with_django_and_celery_integrations_when_a_dsn_is_set():
    # An unroutable DSN: the SDK initialises but nothing is sent during this probe.
    state = probe(SENTRY_DSN="http://publickey@127.0.0.1:9/1", SENTRY_ENVIRONMENT="staging")
    assert state["active"] is True
    assert {"django", "celery"} <= set(state["integrations"])
    assert state["environment"] == "staging" and state["pii"] is False
