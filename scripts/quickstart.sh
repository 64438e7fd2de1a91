#!/usr/bin/env bash
# Quick start (`make up`): a fresh machine -> database with real F1 data, trained models, predictions,
# and the site on ${HOST:-127.0.0.1}:${PORT:-8001}. Idempotent: re-running re-applies migrations, re-loads the
# data (0 created / 0 updated when nothing changed), trains only when no model is active (or
# PITWALL_RETRAIN=1), and starts serving again.
#
# Data: $PITWALL_SHARED_DIR/data/ergast (the offline Ergast dump) when present, else `sync_f1` from
# ERGAST_API_BASE (Jolpica, or the local mirror when pointed at it).
# Env: PORT (8001), HOST (127.0.0.1: this machine only — a DEBUG site signs tokens with the public
#      development SECRET_KEY, so anyone who reached it could forge a staff token), DEBUG (runserver when true, gunicorn otherwise), PITWALL_SHARED_DIR,
#      PITWALL_DEV_SUPERUSER=1 (+ DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL; default admin/admin),
#      PITWALL_QUICKSTART_WEATHER=0 to skip fetching observed race weather,
#      PITWALL_QUICKSTART_SERVE=0 to stop after setup (no server).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; BIN=.venv/bin; else PY=python; BIN=""; fi
PORT="${PORT:-8001}"
SHARED="${PITWALL_SHARED_DIR:-../shared}"
YEAR="$(date -u +%Y)"
log() { printf '[quickstart %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
truthy() { [[ "${1,,}" =~ ^(1|true|yes|on)$ ]]; }
has_command() { grep -qx "$1" <<<"$COMMANDS"; }
run_step() {  # run_step <name> <fatal:1|0> <command...>; logs the duration
  local name="$1" fatal="$2" start=$SECONDS
  shift 2
  log "$name ..."
  if "$@"; then
    log "$name done in $((SECONDS - start))s"
  elif [[ "$fatal" == 1 ]]; then
    log "$name FAILED after $((SECONDS - start))s"
    exit 1
  else
    log "$name failed after $((SECONDS - start))s (continuing; the site works without it)"
  fi
}

TOTAL=$SECONDS
COMMANDS="$("$PY" manage.py help --commands)"

run_step migrate 1 "$PY" manage.py migrate --noinput

if [[ -d "$SHARED/data/ergast" ]]; then
  run_step "load_ergast $SHARED/data/ergast" 1 "$PY" manage.py load_ergast "$SHARED/data/ergast"
elif has_command sync_f1; then
  run_step "sync_f1 2018-$YEAR" 1 "$PY" manage.py sync_f1 --seasons "2018-$YEAR"
else
  log "no Ergast dump at $SHARED/data/ergast and no sync_f1 command: starting without F1 data"
fi

# Offline quick start: with no OPENF1_API_BASE / WEATHER_API_BASE of its own and the shared data at
# hand, serve observed race weather and this season's sessions from the local mirror for the
# duration of the setup only (the running site never depends on ../shared).
MIRROR_PID=""
stop_mirror() { [[ -n "$MIRROR_PID" ]] && kill "$MIRROR_PID" 2>/dev/null || true; }
trap stop_mirror EXIT
if [[ -z "${OPENF1_API_BASE:-}" && -f "$SHARED/tools/f1mirror.py" ]] && truthy "${PITWALL_QUICKSTART_WEATHER:-1}"; then
  MIRROR_LOG="$(mktemp)"
  "$PY" "$SHARED/tools/f1mirror.py" --data "$SHARED/data" --port 0 >"$MIRROR_LOG" 2>&1 &
  MIRROR_PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$MIRROR_LOG" && break; sleep 0.2; done
  MIRROR_URL="$(grep -o 'http://[^ ]*' "$MIRROR_LOG" | head -1)"
  if [[ -n "$MIRROR_URL" ]]; then
    export OPENF1_API_BASE="$MIRROR_URL/v1" WEATHER_API_BASE="$MIRROR_URL/v1"
    log "offline: OpenF1 and weather from the local mirror at $MIRROR_URL during setup"
  fi
fi

# The season whose sessions to fetch: the latest one on the calendar just loaded, not the clock's year
# (in January the new year has no races yet, and a 2027 clock must still fetch 2026's sessions).
SEASON="$("$PY" manage.py shell --no-imports -v 0 -c 'from ingestion.models import Race; print(Race.objects.on_calendar().order_by("-season_id").values_list("season_id", flat=True).first() or "")' 2>/dev/null | tail -n 1 || true)"
[[ "$SEASON" =~ ^[0-9]{4}$ ]] || SEASON="$YEAR"
if has_command sync_openf1 && [[ -n "${OPENF1_API_BASE:-}" ]]; then
  run_step "OpenF1 sessions $SEASON" 0 "$PY" manage.py sync_openf1 --seasons "$SEASON"
fi

if has_command sync_weather && truthy "${PITWALL_QUICKSTART_WEATHER:-1}"; then
  run_step "observed race weather" 0 timeout "${PITWALL_QUICKSTART_WEATHER_TIMEOUT:-600}" \
    "$PY" manage.py sync_weather --observed --seasons "2018-$YEAR"
  run_step "weather forecasts for upcoming races" 0 timeout 300 "$PY" manage.py sync_weather --forecast
fi

if has_command train_models; then
  # "usable", not just "exists": an artifact of an older engine format is refused at load, and a
  # version fitted on older feature definitions (FEATURES_FORMAT) is retrained, not served on
  # features whose meaning changed under it
  active="$("$PY" manage.py shell --no-imports -c "
try:
    from predictions.services.training import model_bundle_load, model_version_features_current
    version, _ = model_bundle_load()
    print(True if model_version_features_current(version=version) else 'outdated')
except Exception:
    print(False)" 2>/dev/null | tail -n 1 || echo False)"
  if [[ "$active" == "outdated" ]]; then
    log "train_models: the active model was trained on older feature definitions; retraining"
  fi
  if [[ "$active" != "True" ]] || truthy "${PITWALL_RETRAIN:-0}"; then
    run_step train_models 0 "$PY" manage.py train_models
  else
    log "train_models skipped: an active model version loads (PITWALL_RETRAIN=1 to retrain)"
  fi
fi
predict_upcoming() {  # exit status 3: no race left on the calendar (off-season), not a failure
  local rc=0
  "$PY" manage.py predict --upcoming || rc=$?
  if [[ "$rc" == 3 ]]; then
    log "no upcoming races on the calendar (season over): nothing to predict; the last three races are backfilled and scored"
    return 0
  fi
  return "$rc"
}
if has_command predict; then
  run_step "predict --upcoming" 0 predict_upcoming
fi

run_step collectstatic 1 "$PY" manage.py collectstatic --noinput --verbosity 0

if truthy "${PITWALL_DEV_SUPERUSER:-0}"; then
  export DJANGO_SUPERUSER_USERNAME="${DJANGO_SUPERUSER_USERNAME:-admin}"
  export DJANGO_SUPERUSER_PASSWORD="${DJANGO_SUPERUSER_PASSWORD:-admin}"
  export DJANGO_SUPERUSER_EMAIL="${DJANGO_SUPERUSER_EMAIL:-admin@example.com}"
  exists="$("$PY" manage.py shell --no-imports -c "from django.contrib.auth import get_user_model; import os; print(get_user_model().objects.filter(username=os.environ['DJANGO_SUPERUSER_USERNAME']).exists())" | tail -n 1)"
  if [[ "$exists" == "True" ]]; then
    log "dev superuser $DJANGO_SUPERUSER_USERNAME exists"
  else
    run_step "dev superuser $DJANGO_SUPERUSER_USERNAME" 1 "$PY" manage.py createsuperuser --noinput
  fi
fi

if [[ -n "$MIRROR_PID" ]]; then
  stop_mirror
  unset OPENF1_API_BASE WEATHER_API_BASE  # the served site uses its own settings, never the mirror
fi
log "setup finished in $((SECONDS - TOTAL))s"
if ! truthy "${PITWALL_QUICKSTART_SERVE:-1}"; then
  exit 0
fi
HOST="${HOST:-127.0.0.1}"
if truthy "${DEBUG:-false}"; then
  log "serving (runserver, DEBUG) on http://$HOST:$PORT"
  exec "$PY" manage.py runserver "$HOST:$PORT"
fi
# The quick start serves plain http on this machine: without this, DEBUG off would 301 every page
# to an https:// nobody serves here (only /api/v1/health is exempt). Set it true to keep the redirect.
export SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-false}"
log "serving (gunicorn, plain http: SECURE_SSL_REDIRECT=$SECURE_SSL_REDIRECT) on http://$HOST:$PORT"
exec "${BIN:+$BIN/}gunicorn" f1site.wsgi:application --bind "$HOST:$PORT"
