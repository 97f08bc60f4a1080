#!/usr/bin/env bash
# The embedded default, end to end: a fresh SQLite database and the file-system broker, a real
# Celery worker, a file imported through it, and the rows read back.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
export RECSITE_VAR_DIR="$TMP/var"
unset DATABASE_URL CELERY_BROKER_URL
PY=.venv/bin/python
cleanup() { [ -n "${WORKER:-}" ] && kill "$WORKER" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

$PY manage.py migrate --noinput -v 0
$PY manage.py ensure_operator
.venv/bin/celery -A recsite worker -Q default,training --concurrency 1 --loglevel WARNING \
  >"$TMP/worker.log" 2>&1 &
WORKER=$!
$PY manage.py import_ratings tests/data/ratings_ok.csv --queue --timeout 120
$PY manage.py shell -c "
from catalog.models import Interaction, DataImport
imp = DataImport.objects.get()
assert imp.status == 'succeeded', imp.message
n = Interaction.objects.count()
assert n == imp.rows_imported > 0, (n, imp.rows_imported)
print(f'embedded default OK: {n} interactions imported through the worker')
"
