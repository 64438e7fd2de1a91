"""Benchmarks: `python -m bench.<name>` each print their figures as JSON (see bench/run_all.py)."""


def django_setup_for_bench() -> None:
    """Django for a benchmark run in this process: the production settings with DEBUG on (no
    SECRET_KEY needed), against BENCH_DATABASE_URL when set (else DATABASE_URL / the embedded default)."""
    import os
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "f1site.settings")
    os.environ.setdefault("DEBUG", "true")
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    import django

    django.setup()
