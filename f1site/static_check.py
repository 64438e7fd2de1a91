"""Refuse to serve when the collected static files do not belong to this code.

`python -m f1site.static_check` exits 1 with the reason; gunicorn.conf.py runs it once when the
master starts (in a subprocess: the master imports no Pitwall code), so `make serve`, the Procfile
and the image's CMD refuse to start instead of serving 500s.

With DEBUG off the static files storage is whitenoise's CompressedManifestStaticFilesStorage: every
`{% static %}` looks its name up in STATIC_ROOT/staticfiles.json and raises "Missing staticfiles
manifest entry" when it is not there, so every page answered 500 while the API kept answering 200
(and the health check stayed green). That happened after `make up` + `make serve` (a collectstatic
run with another storage wrote no manifest) and happens whenever the code has a static file that
the last collectstatic did not see: a fresh checkout, or a pulled change served without the
release step.

Checked at start only, not in each worker: a worker recycled or respawned during a bare-metal
deploy (between `git pull` and the release step) failing its boot would halt the whole gunicorn
master, API included. A `kill -HUP` reload is not checked either: the runbook runs the release
step before it. Cost: one Django start (~1.5 s) at gunicorn start; the check itself walks the
static finders (~210 files, a few ms).
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.exceptions import ImproperlyConfigured

FIX = "run the release step first: `make release` (or `python manage.py collectstatic --noinput`)"


def _static_names() -> set[str]:
    """Every name collectstatic would collect (same finders, ignore patterns and prefixes)."""
    ignore = list(apps.get_app_config("staticfiles").ignore_patterns)
    names = set()
    for finder in get_finders():
        for path, storage in finder.list(ignore):
            prefix = getattr(storage, "prefix", None)
            names.add(f"{prefix}/{path}" if prefix else path)
    return names


def collected_static_problem() -> str | None:
    """Why pages would fail on the collected static files, or None when they will not."""
    if settings.DEBUG:
        return None  # unhashed URLs: no manifest is read
    storage = staticfiles_storage
    if not isinstance(storage, ManifestFilesMixin) or not storage.manifest_strict:
        return None
    manifest = f"{settings.STATIC_ROOT}/{storage.manifest_name}"
    if not storage.manifest_storage.exists(storage.manifest_name):
        return f"no static files manifest at {manifest}"
    try:
        entries, _ = storage.load_manifest()
    except ValueError as exc:
        return f"{manifest} is unreadable ({exc})"
    missing = sorted(
        name for name in _static_names() if storage.hash_key(storage.clean_name(name)) not in entries
    )
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        return f"{manifest} is stale: no entry for {len(missing)} static file(s) of this code ({shown})"
    return None


def require_collected_static() -> None:
    problem = collected_static_problem()
    if problem:
        raise ImproperlyConfigured(
            f"Refusing to serve: {problem}; every page would fail with 'Missing staticfiles manifest "
            f"entry'. To fix it, {FIX}."
        )


def main() -> int:
    import os
    import sys

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "f1site.settings")
    django.setup()
    try:
        require_collected_static()
    except ImproperlyConfigured as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
