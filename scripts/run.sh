#!/usr/bin/env bash
# Starts the Celery worker (both queues) in the background and the web server in the foreground.
# With no configuration this is SQLite + the file-system broker under var/: nothing else to run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ADDR=${RECSITE_ADDR:-127.0.0.1:8000}
VAR=${RECSITE_VAR_DIR:-var}
mkdir -p "$VAR"

.venv/bin/celery -A recsite worker -B -Q default,training --concurrency 2 --loglevel INFO \
  --schedule "$VAR/celerybeat-schedule" >"$VAR/worker.log" 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM
echo "Celery worker started (pid $WORKER, log $VAR/worker.log)"
echo "RecSite on http://$ADDR/ — operators: http://$ADDR/operator/"
DEBUG=${DEBUG:-1} $PY manage.py runserver "$ADDR" --noreload
