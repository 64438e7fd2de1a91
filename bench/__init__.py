"""Benchmarks: `python -m bench.<name>` each print their figures as JSON (see bench/run_all.py)."""
