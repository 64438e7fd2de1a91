"""Static files across the documented commands: `make up` (collectstatic with DEBUG=true) then
`make serve` (gunicorn, DEBUG off) renders pages, and the web process refuses to start on a missing
or stale manifest instead of answering every page with a 500.

Real collectstatic and a real gunicorn, no mocks. The test settings pin STATIC_MANIFEST=false for
the rest of the suite; here it is removed from the subprocesses' environment, as the documented
commands do not set it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache as memoize
from pathlib import Path

import pytest
from django.core.cache import cache

from f1site.static_check import collected_static_problem

ROOT = Path(__file__).resolve().parents[2]
PROD_KEY = "static-serving-test-not-a-secret-0123456789abcdef"


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "STATIC_MANIFEST"}}
    env.update(overrides)
    return env


@memoize
def _settings_storages(debug: str) -> dict:
    """STORAGES exactly as f1site/settings.py builds them for this DEBUG (no STATIC_MANIFEST set)."""
    code = "import json, django; django.setup(); from django.conf import settings; print(json.dumps(settings.STORAGES))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(DJANGO_SETTINGS_MODULE="f1site.settings", DEBUG=debug, SECRET_KEY=PROD_KEY),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def collected_with_debug_on(tmp_path_factory) -> Path:
    """`make up`'s collectstatic step: manage.py collectstatic with DEBUG=true, into a temp STATIC_ROOT."""
    root = tmp_path_factory.mktemp("collected") / "static"
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=_env(
            DJANGO_SETTINGS_MODULE="tests.static_build_settings",
            DEBUG="true",
            PITWALL_STATIC_ROOT=str(root),
        ),
        check=True,
        timeout=300,
    )
    return root


@pytest.fixture
def production_static(settings):
    """Point the in-process settings at DEBUG off with the storage settings.py gives DEBUG off."""

    def use(root: Path) -> None:
        settings.DEBUG = False
        settings.STORAGES = json.loads(json.dumps(_settings_storages("false")))
        settings.STATIC_ROOT = str(root)

    return use


def test_collectstatic_writes_the_same_storage_whatever_debug_says():
    assert _settings_storages("true") == _settings_storages("false")


@pytest.mark.django_db
def test_pages_render_with_debug_off_on_files_collected_with_debug_on(
    ergast_data, client, production_static, collected_with_debug_on
):
    """The reported sequence: `make up` then `make serve` answered 500 on every page ("Missing
    staticfiles manifest entry for 'css/pitwall.css'") until `make release` was run."""
    production_static(collected_with_debug_on)
    cache.clear()
    for path in ("/", "/standings/"):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        css = re.search(r'href="/static/(css/pitwall\.[0-9a-f]{12}\.css)"', html)
        assert css, path  # the fingerprinted name from the manifest
        assert (collected_with_debug_on / css.group(1)).exists()
        assert (collected_with_debug_on / f"{css.group(1)}.gz").exists()
    cache.clear()
    assert collected_static_problem() is None


@pytest.mark.django_db
def test_the_site_icon_is_named_by_pages_and_served_for_favicon_ico(
    ergast_data, client, production_static, collected_with_debug_on
):
    """QA: no page named an icon, so every first visit cost a 404 page for /favicon.ico (and the
    admin, the API docs and JSON answers still ask for it). Pages link the fingerprinted SVG;
    /favicon.ico redirects to the same collected file."""
    production_static(collected_with_debug_on)
    cache.clear()
    html = client.get("/").content.decode()
    icon = re.search(
        r'<link rel="icon" href="/static/(img/favicon\.[0-9a-f]{12}\.svg)" type="image/svg\+xml">', html
    )
    assert icon, "the page names no icon"
    assert (collected_with_debug_on / icon.group(1)).exists()
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == f"/static/{icon.group(1)}"
    cache.clear()


def test_a_stale_manifest_is_refused_naming_the_files(tmp_path, production_static, collected_with_debug_on):
    root = tmp_path / "static"
    shutil.copytree(collected_with_debug_on, root)
    manifest = json.loads((root / "staticfiles.json").read_text())
    del manifest["paths"]["css/pitwall.css"]  # a static file newer than the last collectstatic
    (root / "staticfiles.json").write_text(json.dumps(manifest))
    production_static(root)
    problem = collected_static_problem()
    assert problem and "stale" in problem and "css/pitwall.css" in problem and "1 static file" in problem


def test_the_check_is_off_in_debug_and_without_the_manifest_storage(tmp_path, settings, production_static):
    production_static(tmp_path / "never-collected")
    assert "no static files manifest" in collected_static_problem()
    settings.DEBUG = True  # runserver: unhashed URLs, no manifest read
    assert collected_static_problem() is None
    settings.DEBUG = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    assert collected_static_problem() is None  # STATIC_MANIFEST=false


def test_gunicorn_refuses_to_start_without_collected_static_files(tmp_path):
    """`make serve` on a checkout nobody ran collectstatic for: gunicorn exits with the reason and
    the fix before it binds, instead of serving 500s."""
    try:
        proc = _gunicorn(tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("gunicorn started and served with no static files collected")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-2000:]
    assert "Refusing to serve: no static files manifest at" in output
    assert "make release" in output
    assert "Listening at" not in output and "Booting worker" not in output  # stopped before binding


def _gunicorn(tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=_env(
            DJANGO_SETTINGS_MODULE="tests.static_build_settings",
            DEBUG="false",
            SECRET_KEY=PROD_KEY,
            PITWALL_STATIC_ROOT=str(tmp_path / "static"),
            PITWALL_VAR_DIR=str(tmp_path / "var"),
            GUNICORN_BIND="127.0.0.1:0",
            WEB_CONCURRENCY="1",
            LOG_FORMAT="text",
        ),
        capture_output=True,
        text=True,
        timeout=60,  # boots in a few seconds; still up after this means it is serving
    )
