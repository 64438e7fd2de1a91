"""gunicorn.conf.py post_worker_init: the worker's startup heap, URLconf and views included, is frozen
before its first request (a full GC pass over it was the p99 of uncached requests); workers recycle
rarely and spread out (a boot costs ~1.6 s of CPU)."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a child process: freezing is process-wide and must not touch the test runner's heap.
_WORKER = """
import gc, json, runpy, sys
import django
django.setup()  # what gunicorn's load_wsgi does in the worker (f1site.wsgi)
conf = runpy.run_path("gunicorn.conf.py")
before = gc.get_freeze_count()
urls_before = "f1site.urls" in sys.modules
conf["post_worker_init"](None)
print(json.dumps({
    "before": before,
    "after": gc.get_freeze_count(),
    "urls_before": urls_before,
    "urls_after": "f1site.urls" in sys.modules,
    "views_after": "predictions.api.views" in sys.modules,
    "alive": len(gc.get_objects()),
}))
"""


def test_post_worker_init_loads_the_urlconf_and_freezes_the_heap(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _WORKER],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["before"] == 0 and not out["urls_before"]
    assert out["urls_after"] and out["views_after"]
    # Everything alive after the hook is frozen (the tracked objects the collector would walk).
    assert out["after"] > 100_000
    assert out["alive"] < out["after"] * 0.05


def test_workers_recycle_rarely_and_spread_out(monkeypatch, tmp_path):
    # Boots cost ~1.6 s of CPU each: 5,000 +- 500 had all workers booting together every few
    # seconds under load (bench_api). Defaults and overrides:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (50000, 25000)
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "8000")
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (8000, 4000)
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS_JITTER", "100")
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["max_requests_jitter"] == 100


def test_empty_access_log_setting_turns_it_off(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.delenv("GUNICORN_ACCESS_LOG", raising=False)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["accesslog"] == "-"
    monkeypatch.setenv("GUNICORN_ACCESS_LOG", "")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["accesslog"] is None
