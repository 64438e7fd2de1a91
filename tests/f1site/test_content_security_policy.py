"""The Content-Security-Policy header (django-csp, f1site/settings.py): strict on every HTML page and
the admin, widened only as far as each API docs page needs, `default-src 'none'` on what is not
HTML; report-only and a report URI by setting. The pages themselves carry nothing inline that the
policy would refuse (tests/browser/test_csp_browser.py runs them in Chromium under it)."""

from __future__ import annotations

import json
import uuid
from html.parser import HTMLParser

import pytest

from ingestion.models import Race, RaceResult
from tests.factories import ModelVersionFactory, PredictionFactory

pytestmark = pytest.mark.django_db

PAGE_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
NOT_HTML_POLICY = {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}


def _policy(header: str) -> dict[str, list[str]]:
    directives = [d.split() for d in header.split(";") if d.strip()]
    policy = {d[0]: d[1:] for d in directives}
    assert len(policy) == len(directives), header  # no directive twice
    return policy


@pytest.fixture
def race_with_predictions(ergast_data) -> Race:
    race = Race.objects.get(season_id=2026, round=7)
    version, batch = ModelVersionFactory(), uuid.uuid4()
    entries = RaceResult.objects.filter(race=race).select_related("driver", "team").order_by("grid")[:3]
    for i, entry in enumerate(entries, start=1):
        PredictionFactory(batch=batch, race=race, driver=entry.driver, team=entry.team, stage="post",
                          predicted_position=i, model_version=version)  # fmt: skip
    return race


def _pages(race: Race) -> list[str]:
    return [
        "/?as_of=2026-06-20",
        f"/races/{race.slug}/",
        f"/races/{race.slug}/what-if/",
        f"/races/{race.slug}/why/{RaceResult.objects.filter(race=race).order_by('grid')[0].driver.ref}/?stage=post",
        "/races/?season=2026",
        "/standings/",
        "/standings/?season=2021",
        "/drivers/max_verstappen/?season=2021",
        "/teams/mercedes/?season=2021",
        "/model/",
        "/championship/?season=2021",
        "/no-such-page/",  # the site's 404 page
    ]


def test_every_page_sends_the_strict_policy(client, race_with_predictions):
    for url in _pages(race_with_predictions):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert response["Content-Type"].startswith("text/html"), url
        assert _policy(response["Content-Security-Policy"]) == PAGE_POLICY, url
        assert "Content-Security-Policy-Report-Only" not in response, url


def test_an_htmx_swap_and_a_cached_page_carry_it_too(client, race_with_predictions):
    swap = client.get("/standings/?season=2021", HTTP_HX_REQUEST="true")
    assert _policy(swap["Content-Security-Policy"]) == PAGE_POLICY
    client.get("/races/?season=2026")
    cached = client.get("/races/?season=2026")  # from the page cache: the header is added on the way out
    assert _policy(cached["Content-Security-Policy"]) == PAGE_POLICY


class _Inline(HTMLParser):
    """What a strict policy refuses in a page: style attributes, <style> elements, inline scripts,
    event-handler attributes and javascript: links."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "style" in a:
            self.found.append(f"<{tag} style={a['style']!r}>")
        if tag == "style":
            self.found.append("<style>")
        if tag == "script" and not a.get("src"):
            self.found.append("inline <script>")
        self.found += [f"<{tag} {name}=…>" for name in a if name.startswith("on")]
        self.found += [
            f"<{tag} {k}={v!r}>" for k, v in a.items() if (v or "").strip().lower().startswith("javascript:")
        ]


def test_no_page_needs_an_inline_style_or_script(client, race_with_predictions, admin_client):
    """The probability bars were `<span style="width: 37.5%">` and the what-if's slots
    `style="width:4.5em"`: refused under the policy, every bar drew empty."""
    urls = [*_pages(race_with_predictions), "/staff/freshness/"]
    for url in urls:
        response = (admin_client if url.startswith("/staff/") else client).get(url)
        parser = _Inline()
        parser.feed(response.content.decode())
        assert parser.found == [], url
    race = client.get(f"/races/{race_with_predictions.slug}/").content.decode()
    assert '<rect width="10.0" height="1"/>' in race  # the bars are SVG (PredictionFactory: win 0.1)


def test_the_admin_sends_the_strict_policy(client, admin_client, ergast_data):
    login = client.get("/admin/login/")
    assert _policy(login["Content-Security-Policy"]) == PAGE_POLICY
    for url in (
        "/admin/",
        "/admin/ingestion/race/",
        "/admin/ingestion/jobrun/",
        "/admin/predictions/modelversion/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert _policy(response["Content-Security-Policy"]) == PAGE_POLICY, url


def test_the_api_docs_get_only_what_their_bundles_need(client):
    swagger = client.get("/api/docs/")
    assert _policy(swagger["Content-Security-Policy"]) == {**PAGE_POLICY, "img-src": ["'self'", "data:"]}
    assert b"<script>" not in swagger.content and b"<style>" not in swagger.content
    # Swagger UI's start-up script is a file (drf-spectacular's split view), validator still off
    script = client.get("/api/docs/?script")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b'"validatorUrl": null' in script.content or b'"validatorUrl":null' in script.content
    redoc = client.get("/api/redoc/")
    assert _policy(redoc["Content-Security-Policy"]) == {
        **PAGE_POLICY,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "worker-src": ["blob:"],
    }


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/health",
        "/api/v1/races?season=2024",
        "/api/v1/races/9999_nowhere",
        "/api/v1/nope",
        "/api/schema/",
    ],
)
def test_what_is_not_html_gets_default_src_none(client, ergast_data, url):
    response = client.get(url)
    assert not response["Content-Type"].startswith("text/html"), url
    assert _policy(response["Content-Security-Policy"]) == NOT_HTML_POLICY


def test_a_304_leaves_the_cached_answer_s_policy_alone(client, ergast_data):
    """The browser merges a 304's headers into the answer it cached: the API's 304s say text/html,
    so they would have given a cached JSON answer the page policy."""
    first = client.get("/api/v1/races", {"season": 2024})
    again = client.get("/api/v1/races", {"season": 2024}, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert "Content-Security-Policy" not in again and "Content-Security-Policy-Report-Only" not in again


REPORT_URI = "https://reports.example.org/csp?key=abc"


@pytest.fixture
def report_only(settings):
    """CSP_REPORT_ONLY=true with CSP_REPORT_URI, as f1site/settings.py builds them."""
    directives = {**settings.CONTENT_SECURITY_POLICY["DIRECTIVES"], "report-uri": [REPORT_URI]}
    settings.CONTENT_SECURITY_POLICY = None
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": directives}


def test_report_only_sends_the_same_policies_as_report_only(client, ergast_data, report_only):
    expected = {
        "/races/?season=2026": PAGE_POLICY,
        "/admin/login/": PAGE_POLICY,
        "/api/docs/": {**PAGE_POLICY, "img-src": ["'self'", "data:"]},
        "/api/v1/health": NOT_HTML_POLICY,
    }
    for url, policy in expected.items():
        response = client.get(url)
        assert "Content-Security-Policy" not in response, url
        assert _policy(response["Content-Security-Policy-Report-Only"]) == {
            **policy,
            "report-uri": [REPORT_URI],
        }


def test_the_settings_build_the_policy_from_the_environment():
    from tests.f1site.test_settings import _settings_values

    expression = (
        "__import__('json').dumps([s.CONTENT_SECURITY_POLICY, s.CONTENT_SECURITY_POLICY_REPORT_ONLY])"
    )
    enforced, reported = json.loads(_settings_values(expression))
    assert enforced == {"DIRECTIVES": {**PAGE_POLICY, "report-uri": None}} and reported is None
    enforced, reported = json.loads(
        _settings_values(expression, CSP_REPORT_ONLY="true", CSP_REPORT_URI=REPORT_URI)
    )
    assert enforced is None and reported == {"DIRECTIVES": {**PAGE_POLICY, "report-uri": [REPORT_URI]}}


def test_django_csp_finds_no_old_style_setting():
    """Settings named CSP_REPORT_ONLY / CSP_REPORT_URI are django-csp 3.x's, and version 4 fails its
    check csp.E001 on them: the environment's variables of those names are read into lower-case names."""
    from django.core.checks import run_checks

    assert [e.id for e in run_checks() if e.id.startswith("csp.")] == []


@pytest.mark.parametrize("report_only", [False, True])
@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json"])
def test_the_per_process_headers_are_the_ones_the_library_builds_per_response(
    settings, report_only, content_type
):
    """The middleware builds the common case's headers once per process (building them per response
    cost the warm API ~7 % of its requests/s); they must stay what django-csp itself builds for that
    response, and follow a settings change (report-only here)."""
    from csp.middleware import CSPMiddleware
    from django.http import HttpRequest, HttpResponse

    from f1site.middleware import ContentSecurityPolicyMiddleware

    if report_only:
        settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = settings.CONTENT_SECURITY_POLICY
        settings.CONTENT_SECURITY_POLICY = None
    middleware = ContentSecurityPolicyMiddleware(lambda request: HttpResponse())
    fast = middleware.process_response(HttpRequest(), HttpResponse(content_type=content_type))
    fast_again = middleware.process_response(HttpRequest(), HttpResponse(content_type=content_type))
    built = CSPMiddleware.process_response(middleware, HttpRequest(), HttpResponse(content_type=content_type))
    names = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")
    expected = {h: built[h] for h in names if h in built}
    assert len(expected) == 1 and ("Report-Only" in next(iter(expected))) == report_only
    for response in (fast, fast_again):
        assert {h: response[h] for h in names if h in response} == expected
