#!/usr/bin/env bash
# Starts the Celery worker (both queues) in the background and the web server in the foreground.
# With no configuration this is SQLite + the file-system broker under var/: nothing else to run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ADDR=${RECSITE_ADDR:-127.0.0.1:8000}
mkdir -p var

.venv/bin/celery -A recsite worker -B -Q default,training --concurrency 2 --loglevel INFO \
  --schedule var/celerybeat-schedule >var/worker.log 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM
echo "Celery worker started (pid $WORKER, log var/worker.log)"
echo "RecSite on http://$ADDR/ — operator pages at http://$ADDR/operator/data/"
DEBUG=${DEBUG:-1} $PY manage.py runserver "$ADDR" --noreload
