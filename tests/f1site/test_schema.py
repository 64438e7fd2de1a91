"""The OpenAPI contract: the committed docs/openapi.yaml must match the code, and fuzzing the live
API with schemathesis (every operation, all phases) finds no 5xx and no schema violation.

Regenerate the snapshot after an intended API change:
    python manage.py spectacular --file docs/openapi.yaml --validate --fail-on-warn
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
import yaml
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.drf_support import clean_cache  # noqa: F401 - autouse: empty cache, relaxed throttles

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_schema_matches_the_committed_snapshot():
    generated = yaml.safe_load(
        OpenApiYamlRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    )
    committed = yaml.safe_load(SNAPSHOT.read_text())
    assert generated == committed, (
        "The API schema drifted from docs/openapi.yaml. If the change is intended, regenerate it: "
        "python manage.py spectacular --file docs/openapi.yaml --validate --fail-on-warn"
    )


def test_every_endpoint_documents_its_errors():
    schema = yaml.safe_load(SNAPSHOT.read_text())
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            if path != "/api/v1/health":
                assert "429" in codes, (method, path)
            if "{race_id}" in path:
                assert {"400", "404"} <= codes, (method, path)
            if method == "post" and "race/" in path:
                assert {"401", "403"} <= codes


def test_every_operation_that_takes_a_jwt_lists_401():
    """API contract audit: authentication runs before permissions, so an expired or invalid JWT is a
    401 `token_not_valid` on every operation that takes one, public reads included (README, Auth),
    yet no public GET listed 401. f1site.api.openapi_token_errors adds it, in one place."""
    schema = yaml.safe_load(SNAPSHOT.read_text())
    taking_jwt = [
        (method, path, op)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if any("jwtAuth" in requirement for requirement in op.get("security", []))
    ]
    assert len(taking_jwt) == 20
    for method, path, op in taking_jwt:
        if path == "/api/v1/health":  # an unusable token is no token there: never a 401
            assert "401" not in op["responses"] and "never a 401" in op["description"]
            continue
        assert "401" in op["responses"], (method, path)
    races = schema["paths"]["/api/v1/races"]["get"]
    assert {} in races["security"]  # public
    assert races["responses"]["401"] == {"$ref": "#/components/responses/TokenNotValid"}
    shared = schema["components"]["responses"]["TokenNotValid"]
    assert shared["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "token_not_valid" in shared["description"]
    # an operation that listed its own 401 (staff only) keeps it
    job = schema["paths"]["/api/v1/predictions/jobs/{job_id}"]["get"]["responses"]["401"]
    assert job["description"] == "Authentication required"


def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()  # assets from drf-spectacular-sidecar, not a CDN
    assert b"/static/drf_spectacular_sidecar/" in docs.content


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_nothing_from_another_site(client, url):
    """Redoc's template linked Google Fonts (QA): every src/href is this site's own."""
    import re

    page = client.get(url)
    assert page.status_code == 200
    external = re.findall(rb'(?:src|href)="((?:https?:)?//[^"]+)"', page.content)
    assert external == []
    assert b"fonts.googleapis" not in page.content and b"fonts.gstatic" not in page.content
    # and at run time: Redoc's bundle draws a logo from cdn.redoc.ly, Swagger UI a validator badge
    # from validator.swagger.io (QA) — images (and everything else) from this site only, and no
    # validator (in Swagger UI's start-up script, served at ?script for the policy's sake)
    policy = dict(d.split(" ", 1) for d in page["Content-Security-Policy"].split("; "))
    assert policy["img-src"] == "'self' data:" and policy["default-src"] == "'self'"
    assert not any("http" in sources or "*" in sources for sources in policy.values())
    if url == "/api/docs/":
        script = client.get("/api/docs/?script").content
        assert b'"validatorUrl": null' in script or b'"validatorUrl":null' in script


# --- fuzzing -------------------------------------------------------------------------------------
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "500"))
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True},
        },
        "generation": {"max-examples": MAX_EXAMPLES},
        # 503 is the documented "dependency unavailable" answer (no trained model yet); any
        # other 5xx fails the run.
        "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
        "operations": [
            {
                # simplejwt's serializer rightly refuses NUL characters in a username/password,
                # which the generated schema cannot express; every other check still applies.
                "include-path-regex": "^/api/v1/auth/",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            }
        ],
    }
)
fuzz_schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)


@pytest.fixture
def keep_db_connection():
    """Schemathesis calls the WSGI app directly, which fires request_started/finished; Django's
    close_old_connections would close the test transaction's connection (the test Client
    disconnects it the same way)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.slow
@pytest.mark.django_db
@fuzz_schema.parametrize()
@settings(
    deadline=None,
    # The dump is loaded once per session and every request here is a read or a rejected write,
    # so sharing the function-scoped database fixture between examples is intended.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_fuzz_every_operation(case, ergast_data, keep_db_connection):
    case.call_and_validate()


def test_as_of_is_declared_as_the_text_it_accepts():
    """`as_of` was declared `format: date`, yet date-times are read too (2026-06-20T14:00+02:00):
    a client generated from the schema could not have sent one."""
    schema = yaml.safe_load(SNAPSHOT.read_text())
    declared = [
        (path, param["schema"])
        for path, ops in schema["paths"].items()
        for method in ("get", "post")
        for param in ops.get(method, {}).get("parameters", [])
        if param["name"] == "as_of"
    ]
    # predictions/upcoming, predictions/overview, predictions/race|accuracy/{race_id}, races,
    # races/{race_id}, standings, drivers, teams, drivers|teams/{id}, analytics/driver|team/{id}, championship/{season},
    # models/performance, and the what-if's POST (a query parameter beside its body)
    assert sorted(path for path, _ in declared) == [
        "/api/v1/analytics/driver/{driver_id}",
        "/api/v1/analytics/team/{team_id}",
        "/api/v1/championship/{season}",
        "/api/v1/drivers",
        "/api/v1/drivers/{driver_id}",
        "/api/v1/models/performance",
        "/api/v1/predictions/accuracy/{race_id}",
        "/api/v1/predictions/overview",
        "/api/v1/predictions/race/{race_id}",
        "/api/v1/predictions/upcoming",
        "/api/v1/predictions/what-if/{race_id}",
        "/api/v1/races",
        "/api/v1/races/{race_id}",
        "/api/v1/standings",
        "/api/v1/teams",
        "/api/v1/teams/{team_id}",
    ], declared
    either = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    assert all(found == either for _, found in declared), declared


def test_the_clock_s_cut_off_is_described_as_the_code_applies_it():
    """API review: these operations count a race (a qualifying) at a clock once its results were
    known — race start + 3 h, qualifying start + 2 h — but the schema said "started by the clock" /
    "had begun", so a client built from it expected data the API withholds (Colapinto an hour into
    his first race). The wrong wording must not come back on any operation or its `as_of`."""
    schema = yaml.safe_load(SNAPSHOT.read_text())
    wrong = ("started by the clock", "had started", "had begun", "qualifying had", "run by then")
    checked = {
        "/api/v1/drivers/{driver_id}": "results were known by the clock",
        "/api/v1/teams/{team_id}": "results were known by the clock",
        "/api/v1/analytics/driver/{driver_id}": "results were known by the clock",
        "/api/v1/analytics/team/{team_id}": "results were known by the clock",
        "/api/v1/predictions/accuracy/{race_id}": "results were known (race start + 3 h",
        "/api/v1/predictions/race/{race_id}": "results were known (qualifying start + 2 h)",
        "/api/v1/championship/{season}": "no race whose results were known by then is 404",
    }
    for path, right in checked.items():
        op = schema["paths"][path]["get"]
        text = " ".join(
            [op.get("description", "")] + [p.get("description", "") for p in op.get("parameters", [])]
        )
        text = " ".join(text.split())
        assert right in text, (path, text)
        assert not any(w in text for w in wrong), (path, text)


@pytest.mark.parametrize(
    ("component", "key", "public"),
    [
        ("TeammateGapRaceOut", "teammate_id", "teammate"),
        ("WetWeatherOut", "wet_race_ids", "wet_race_list"),
        ("StrategyRaceOut", "race_id", "race"),
        ("QualifyingPaceOut", "team_id", "team"),
        ("MetricsDriverOut", "ref", "id"),
        ("MetricsTeamOut", "ref", "id"),
    ],
)
def test_the_analytics_primary_keys_are_deprecated_beside_their_public_ids(component, key, public):
    """The analytics were one untyped `analytics` object whose rows carried internal primary keys no
    endpoint takes; the metrics holding them are typed now, each key kept but deprecated, its public
    id beside it (tests/analytics/api check that the ids resolve)."""
    schema = yaml.safe_load(SNAPSHOT.read_text())
    components = schema["components"]["schemas"]
    properties = components[component]["properties"]
    assert properties[key]["deprecated"] is True and "Deprecated" in properties[key]["description"]
    assert public in properties and not properties[public].get("deprecated")
    assert public in components[component]["required"]
    deprecated = {
        (name, field)
        for name, body in components.items()
        for field, spec in body.get("properties", {}).items()
        if spec.get("deprecated")
    }
    assert deprecated == {
        ("TeammateGapRaceOut", "teammate_id"),
        ("WetWeatherOut", "wet_race_ids"),
        ("StrategyRaceOut", "race_id"),
        ("QualifyingPaceOut", "team_id"),
        ("MetricsDriverOut", "ref"),  # `id`, as every other object of the API names its entity
        ("MetricsTeamOut", "ref"),
    }
