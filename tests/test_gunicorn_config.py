"""gunicorn.conf.py: loads, sizes from the CPU count or the environment, logs JSON with the request id,
and cleans a dead worker's live metric files."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "gunicorn.conf.py"
SIZING_VARS = ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "PORT", "HOST", "GUNICORN_BIND")


@pytest.fixture
def load_conf(monkeypatch, tmp_path):
    def load(**env):
        for name in SIZING_VARS:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONF))

    return load


def test_defaults_size_workers_from_the_cpu_count(load_conf):
    conf = load_conf()
    assert conf["workers"] == len(os.sched_getaffinity(0)) + 1
    assert (conf["threads"], conf["worker_class"]) == (1, "sync")
    assert conf["bind"] == "0.0.0.0:8001"
    assert conf["timeout"] == 30 and conf["graceful_timeout"] == 30
    assert conf["preload_app"] is False  # HUP reloads code
    assert conf["wsgi_app"] == "f1site.wsgi:application"


def test_environment_overrides_and_bad_values_fail_loudly(load_conf):
    conf = load_conf(WEB_CONCURRENCY="5", GUNICORN_THREADS="4", PORT="8170", HOST="127.0.0.1")
    assert (conf["workers"], conf["threads"], conf["worker_class"]) == (5, 4, "gthread")
    assert conf["bind"] == "127.0.0.1:8170"
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY='many' is not an integer"):
        load_conf(WEB_CONCURRENCY="many")
    with pytest.raises(SystemExit, match="must be >= 1"):
        load_conf(GUNICORN_TIMEOUT="0")


def test_gunicorn_check_config_loads_the_app(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", *SIZING_VARS)},
        "SECRET_KEY": "check-config-secret-key-0123456789abcdefghijklmnop",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    result = subprocess.run(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", str(CONF), "--check-config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


class _Response:
    status = "201 CREATED"
    headers = [("Content-Type", "application/json"), ("X-Request-ID", "req-123")]
    sent = 42


def test_access_log_is_one_json_line_with_the_request_id(load_conf, monkeypatch):
    from gunicorn.config import Config

    conf = load_conf()
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("logger_class", conf["JsonLogger"])
    logger = conf["JsonLogger"](cfg)
    stream = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.setStream(stream)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/predictions/race/2025_bahrain",
        "QUERY_STRING": "stage=post",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_USER_AGENT": 'curl/8 "quoted"',
        "RAW_URI": "/api/v1/predictions/race/2025_bahrain?stage=post",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    logger.access(_Response(), None, environ, dt.timedelta(milliseconds=12.5))
    line = stream.getvalue().strip()
    assert "\n" not in line
    record = json.loads(line)
    assert record["logger"] == "gunicorn.access" and record["level"] == "INFO"
    assert record["request_id"] == "req-123"
    assert (record["method"], record["path"], record["query"], record["status"]) == (
        "POST",
        "/api/v1/predictions/race/2025_bahrain",
        "stage=post",
        201,
    )
    assert record["bytes"] == 42 and record["duration_ms"] == 12.5
    assert record["user_agent"] == 'curl/8 "quoted"'  # escaped by JSON, not breaking the line
    logging.getLogger("gunicorn.access").handlers.clear()
    logging.getLogger("gunicorn.error").handlers.clear()


def test_child_exit_removes_only_the_dead_workers_live_gauges(load_conf, tmp_path):
    from f1site.metrics import process_identifier

    conf = load_conf()
    assert conf["metrics_process_identifier"](4242) == process_identifier(4242)
    prom = tmp_path / "prom"
    prom.mkdir()
    dead = process_identifier(4242)
    alive = process_identifier(4343)
    files = [f"gauge_livesum_{dead}.db", f"gauge_livesum_{alive}.db", f"counter_{dead}.db"]
    for name in files:
        (prom / name).write_bytes(b"")

    class Worker:
        pid = 4242

    conf["child_exit"](None, Worker())
    assert sorted(p.name for p in prom.iterdir()) == sorted(files[1:])  # counters of the dead stay summed


def test_child_exit_imports_nothing_while_the_master_reaps_workers(tmp_path):
    """QA: the master crashed on 3 of 5 first `kill -HUP` reloads: child_exit imported
    prometheus_client inside gunicorn's SIGCHLD handling, several old workers exited at once and the
    re-entered handler met a half-initialised module. The hook must import nothing."""
    script = f"""
import json, runpy, sys
conf = runpy.run_path({str(CONF)!r})
before = set(sys.modules)
class Worker:
    pid = 4242
conf["child_exit"](None, Worker())
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
