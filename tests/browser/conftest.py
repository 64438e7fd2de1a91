"""Real headless Chromium (Debian's package) against a live server, for every browser test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make to set
    # up data are still plain synchronous calls.
    # Scoped to this module: left in os.environ it leaks into subprocesses of later tests (the
    # stack test's `check --deploy` rightly refuses to run with it set).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            instance = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            yield instance
            instance.close()
            # Inside sync_playwright() this thread runs in another contextvars context, so Django's
            # connection handler (asgiref's context-local storage) hands the module's tests a
            # database connection of their own. Nothing closed it once the context was left: it
            # stayed open, idle after the last test's ROLLBACK, until the process ended, and
            # pytest-django could not drop the test database ("is being accessed by other users").
            from django.db import connections

            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def reading_server(django_db_setup):
    """A live server over the session's committed dump, for tests that only read.

    pytest-django's `live_server` makes a test transactional, and the flush after it empties the
    dump (the next database test then reloads it); pages that only read do not need that.
    """
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("localhost")
    yield server.url
    server.stop()


def _page(browser, base_url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Tokyo")
    pg = context.new_page()
    pg.set_default_timeout(15000)
    pg.base = base_url
    return context, pg


@pytest.fixture
def page(browser, reading_server, ergast_data):
    context, pg = _page(browser, reading_server)
    yield pg
    context.close()


@pytest.fixture
def writing_page(browser, live_server, ergast_data):
    """For a test that writes data the server must see (transactional, flushed afterwards)."""
    context, pg = _page(browser, live_server.url)
    yield pg
    context.close()
