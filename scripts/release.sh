#!/usr/bin/env bash
# Release step: run ONCE per deploy, after the new code is in place and BEFORE web/worker/beat start
# (or are reloaded). Never part of start-up, so N web machines never race each other on migrations.
#   1. deploy checks   2. migrate (also seeds the beat schedule, ingestion/0004)   3. re-seed missing
#   schedule rows (idempotent, never touches staff edits)   4. collectstatic (hashed + compressed)
#   5. reset this host's multi-process metrics directory when asked (fresh stack start)
# Env: RELEASE_COLLECTSTATIC=0 skips 4 (images bake static files at build time);
#      RELEASE_RESET_METRICS=1 empties $PROMETHEUS_MULTIPROC_DIR (only while nothing is running).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python; fi
log() { printf '{"logger":"release","message":"%s"}\n' "$*"; }

log "check --deploy"
"$PY" manage.py check --deploy --fail-level ERROR

log "migrate"
"$PY" manage.py migrate --noinput

log "seed beat schedule"
"$PY" manage.py run_job --seed-schedule

if [[ "${RELEASE_COLLECTSTATIC:-1}" == "1" ]]; then
  log "collectstatic"
  "$PY" manage.py collectstatic --noinput --verbosity 0
fi

if [[ "${RELEASE_RESET_METRICS:-0}" == "1" && -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]]; then
  log "reset metrics directory ${PROMETHEUS_MULTIPROC_DIR}"
  rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi
log "release done"
