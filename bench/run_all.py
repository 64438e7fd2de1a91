"""Run every benchmark under bench/ (each `bench_*.py` is a module with a `main()` printing JSON).

`make bench` calls this; a single benchmark runs alone with `python -m bench.bench_<name>`.
Results are collected into var/bench/latest.json for the README's figures.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT = BENCH_DIR.parent / "var" / "bench" / "latest.json"


def main() -> int:
    names = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    only = set(sys.argv[1:])
    results = {
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmarks": {},
    }
    failed = 0
    for name in names:
        if only and name not in only:
            continue
        print(f"== {name}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"],
            cwd=BENCH_DIR.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        sys.stderr.write(proc.stderr[-4000:])
        lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
        try:
            results["benchmarks"][name] = json.loads(lines[-1]) if lines else {"error": "no output"}
        except json.JSONDecodeError:
            results["benchmarks"][name] = {"error": "last line is not JSON", "tail": lines[-5:]}
        if proc.returncode:
            failed += 1
            results["benchmarks"][name]["exit_code"] = proc.returncode
        print(json.dumps(results["benchmarks"][name], indent=2), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"written {OUT}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
