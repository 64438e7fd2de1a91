#!/usr/bin/env bash
# The whole stack without containers: gunicorn web on $PORT (8001), a Celery worker and exactly one
# beat, from the Procfile, under honcho. Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).
#   scripts/stack.sh            start (Ctrl-C or SIGTERM to honcho stops all three)
# For development and demos, not production: honcho restarts nothing, stops all three when any one
# exits, and stops them by SIGTERM to each whole process group (SIGKILL after 5 s), so Celery's pool
# children are signalled directly — no warm shutdown: the running job is interrupted and re-queued.
# Production: compose.yaml or one systemd unit per process (docs/operations.md §1, §3).
#   scripts/stack.sh --release  run scripts/release.sh first (migrate, schedules, static files)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${DATABASE_URL:-}" || -z "${REDIS_URL:-}" ]]; then
  echo "stack.sh: set DATABASE_URL (PostgreSQL) and REDIS_URL (Redis); the stack does not run on the embedded defaults" >&2
  exit 2
fi
[[ -d .venv/bin ]] && export PATH="$PWD/.venv/bin:$PATH"

export PORT="${PORT:-8001}"
export HOST="${HOST:-127.0.0.1}"
# `kill -HUP $(cat var/gunicorn.pid)` reloads the web gracefully (new code, no dropped requests).
export GUNICORN_PIDFILE="${GUNICORN_PIDFILE:-${PITWALL_VAR_DIR:-$PWD/var}/gunicorn.pid}"
mkdir -p "$(dirname "$GUNICORN_PIDFILE")"
# One metrics directory for every process on this host (web workers + Celery worker children), so
# /metrics shows job metrics too. This script owns it: emptied before anything starts.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

if [[ "${1:-}" == "--release" ]]; then
  scripts/release.sh
fi

# exec: honcho becomes this process, so a signal to this pid stops web, worker and beat together.
exec honcho --no-colour --procfile Procfile start --port "$PORT"
