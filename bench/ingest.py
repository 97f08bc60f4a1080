"""Ingest benchmark: the real import path against PostgreSQL's bare ``COPY`` of the same file.

For each size, a MovieLens-shaped ratings file (``user_id,item_id,rating,timestamp``) is generated
with ``catalog/synthetic.py`` and cached in the work directory. For each backend, the file is then
imported into a FRESH database by ``manage.py import_ratings`` in a subprocess: the same service
(``data_import_create`` + ``data_import_run``) that the upload page, the API and the CLI use, with
all validation on. Beside it, in the same run, PostgreSQL ``COPY``s the same file into a bare table
``(user_id text, item_id text, rating real, timestamp bigint)``, streamed from this process.

Usage (from the repository root)::

    .venv/bin/python bench/ingest.py                                  # 1M and 10M, both backends
    .venv/bin/python bench/ingest.py --sizes 1M --backends postgres
    .venv/bin/python bench/ingest.py --sizes 1000000,10000000 --backends sqlite,postgres \\
        --pg-url postgres://postgres@127.0.0.1:5432/recsite_bench --workdir /tmp/recsite-bench

Options: ``--seed`` (generator seed, default 42), ``--timeout`` (seconds per import, default 3600;
a slower import is stopped and reported as ``timeout``), ``--keep`` (leave the databases and
the stored upload copies behind for inspection).

What is measured, per (size, backend):

- ``import s``: wall time of the ``import_ratings`` process, end to end: Python and Django start,
  the upload copied into MEDIA_ROOT, layout detection, chunked parsing and validation, staging,
  the merge transaction. ``job s`` is the part the import row records (started → finished).
- ``rows/s``: data rows of the file / ``import s``.
- ``COPY s`` and ``COPY rows/s``: the bare ``COPY`` (PostgreSQL) of the same file; ``ratio`` is
  import rows/s / COPY rows/s (the target is >= 0.5).
- ``floor s`` and ``floor ratio``: what PostgreSQL alone needs to store the same rows in
  ``catalog_interaction`` as migrated, with nothing of RecSite in the way: the rows, already
  deduplicated and mapped to rater and item keys (prepared untimed), are copied straight
  into the table with its indexes and constraints dropped, which are then rebuilt
  (``catalog.bulk_merge.indexes_dropped``), in one transaction. It is the storage work any
  import of these rows does on this schema, done the cheapest way we know, so ``floor ratio``
  (its rows/s over bare ``COPY``'s) bounds the ratio an import can reach, and ``vs floor``
  (import rows/s over floor rows/s) is how close the import comes to it.
- ``peak MB``: the RSS high-water mark of the importing process (``wait4`` rusage of the child;
  the target is < 1024 MB at 10M rows).

The SQLite database and each backend's ``RECSITE_VAR_DIR`` (media, broker) live in the work
directory; the PostgreSQL database named in ``--pg-url`` is dropped and created again for each
import (and ``<name>_copy`` for the COPY baseline), so never point it at a database you need.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalog import bulk_merge, synthetic  # noqa: E402

COPY_BLOCK = 1 << 20
RATIO_TARGET = 0.5
PEAK_MB_TARGET = 1024


@dataclass(frozen=True)
class ImportResult:
    status: str
    seconds: float
    job_seconds: float | None
    peak_mb: float
    rows_imported: int
    message: str


@dataclass(frozen=True)
class Row:
    size: int
    backend: str
    result: ImportResult
    copy_seconds: float | None
    floor: Floor | None = None


@dataclass
class Floor:
    """The floor's time and its parts: the COPY into the table, then each rebuild step."""

    seconds: float = 0.0
    copy_seconds: float = 0.0
    rebuilt: list[tuple[str, float]] = field(default_factory=list)

    def describe(self, bare_copy_seconds: float) -> str:
        rebuild = sum(seconds for _, seconds in self.rebuilt)
        steps = ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.rebuilt)
        return (
            f"floor {self.seconds:.1f}s = COPY into the table {self.copy_seconds:.1f}s "
            f"+ rebuild {rebuild:.1f}s ({steps}); the rebuild alone is "
            f"{rebuild / bare_copy_seconds:.1f}x the bare COPY, where a ratio of "
            f"{RATIO_TARGET} allows {1 / RATIO_TARGET:.0f}x for the whole import"
        )


class _RebuildLog(logging.Handler):
    """Collects the rebuild steps that ``bulk_merge`` logs with their seconds."""

    def __init__(self, floor: Floor) -> None:
        super().__init__(logging.INFO)
        self.floor = floor

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "rebuilt"):
            self.floor.rebuilt.append((record.rebuilt, record.seconds))


@contextmanager
def rebuild_steps_logged(floor: Floor):  # type: ignore[no-untyped-def]
    handler, logger = _RebuildLog(floor), logging.getLogger(bulk_merge.__name__)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --- Data -----------------------------------------------------------------------------------


def ratings_file(size: int, seed: int, workdir: Path) -> Path:
    """The cached ratings file for ``size`` rows, generated on first use."""
    path = workdir / f"ratings_{size}_seed{seed}.csv"
    if not path.exists():
        started = time.perf_counter()
        synthetic.write_ratings_csv(path, size, seed=seed)
        elapsed = time.perf_counter() - started
        print(f"generated {path} ({size:,} rows) in {elapsed:.1f}s ({size / elapsed:,.0f} rows/s)")
    return path


# --- Databases ------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "recsite_bench"


def recreate_postgres(url: str) -> str:
    """Drop and create the database named in ``url``; return ``url``."""
    _maintenance(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", "CREATE DATABASE {}")
    return url


def drop_postgres(url: str) -> None:
    _maintenance(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)")


def _maintenance(url: str, *statements: str) -> None:
    name = sql.Identifier(database_name(url))
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(sql.SQL(statement).format(name))  # type: ignore[arg-type]


def fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


# --- The import, in a subprocess ------------------------------------------------------------


def child_env(database_url: str, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        RECSITE_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="recsite.settings",
        DEBUG="0",
        LOG_LEVEL="WARNING",
    )
    env.pop("MEDIA_ROOT", None)
    return env


def manage(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def wait_with_rusage(
    process: subprocess.Popen[bytes], timeout: float
) -> tuple[int | None, float, float]:
    """(exit code or None on timeout, seconds, peak RSS in MB) of one child process."""
    started = time.perf_counter()
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024
        if time.perf_counter() - started > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            _, _, usage = os.wait4(process.pid, 0)
            process.returncode = -signal.SIGKILL
            return None, time.perf_counter() - started, usage.ru_maxrss / 1024
        time.sleep(0.05)


def migrate(database_url: str, var_dir: Path) -> Path:
    """Migrate a fresh database; returns the log that later commands append to."""
    log = var_dir / "manage.log"
    if manage(["migrate", "--noinput", "-v", "0"], child_env(database_url, var_dir), log).wait():
        raise SystemExit(f"migrate failed for {database_url}; see {log}")
    return log


def run_import(path: Path, database_url: str, var_dir: Path, timeout: float) -> ImportResult:
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    env = child_env(database_url, var_dir)
    log = migrate(database_url, var_dir)
    code, seconds, peak_mb = wait_with_rusage(
        manage(["import_ratings", str(path)], env, log), timeout
    )
    if code is None:
        return ImportResult("timeout", seconds, None, peak_mb, 0, f"stopped after {timeout:.0f}s")
    status, job_seconds, imported, message = read_import_row(database_url)
    if code != 0 and status == "?":
        message = log.read_text(errors="replace").strip().splitlines()[-1:] or ["crashed"]
        return ImportResult("crashed", seconds, None, peak_mb, 0, message[0])
    return ImportResult(status, seconds, job_seconds, peak_mb, imported, message)


IMPORT_ROW_SQL = (
    "SELECT status, started_at, finished_at, rows_imported, message FROM catalog_dataimport "
    "ORDER BY id DESC LIMIT 1"
)


def read_import_row(database_url: str) -> tuple[str, float | None, int, str]:
    """(status, job seconds, rows imported, message) of the newest import row."""
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            row = conn.execute(IMPORT_ROW_SQL).fetchone()
        if row and row[1] and row[2]:  # SQLite keeps datetimes as ISO text
            row = (row[0], datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2]), *row[3:])
    else:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(IMPORT_ROW_SQL).fetchone()
    if not row:
        return "?", None, 0, "no import row"
    status, started, finished, imported, message = row
    seconds = (finished - started).total_seconds() if started and finished else None
    return status, seconds, int(imported or 0), message or ""


def copy_file(cursor: psycopg.Cursor, statement: str, path: Path) -> None:
    """Stream the file at ``path`` into a ``COPY ... FROM STDIN`` statement."""
    with path.open("rb") as handle, cursor.copy(statement) as copy:
        while block := handle.read(COPY_BLOCK):
            copy.write(block)


# --- The baseline: bare COPY ----------------------------------------------------------------


def run_copy(path: Path, pg_url: str) -> float:
    """Seconds PostgreSQL takes to COPY the file into a bare table (fresh database)."""
    url = recreate_postgres(with_database(pg_url, database_name(pg_url) + "_copy"))
    try:
        with psycopg.connect(url) as conn:
            conn.execute(
                "CREATE TABLE ratings_copy (user_id text, item_id text, rating real, "
                "timestamp bigint)"
            )
            conn.commit()
            started = time.perf_counter()
            with conn.cursor() as cursor:
                copy_file(cursor, "COPY ratings_copy FROM STDIN (FORMAT csv, HEADER true)", path)
            conn.commit()
            return time.perf_counter() - started
    finally:
        drop_postgres(url)


# --- The floor: the same rows COPYed into catalog_interaction, indexes rebuilt ---------------

FLOOR_COLUMNS = "(rater_id, item_id, event_type, value, occurred_at, source)"


def run_floor(path: Path, pg_url: str, workdir: Path) -> Floor:
    """The time to COPY the file's deduplicated, key-mapped rows into a freshly migrated
    ``catalog_interaction`` and rebuild its indexes and constraints (the mapping is untimed)."""
    url = recreate_postgres(with_database(pg_url, database_name(pg_url) + "_floor"))
    var_dir = workdir / "var-floor"
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    try:
        migrate(url, var_dir)
        mapped = _mapped_rows(path, url, var_dir)
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            floor = Floor()
            started = time.perf_counter()
            with rebuild_steps_logged(floor), bulk_merge.indexes_dropped(cursor, enabled=True):
                copy_started = time.perf_counter()
                copy_file(cursor, f"COPY {bulk_merge.TABLE} {FLOOR_COLUMNS} FROM STDIN", mapped)
                floor.copy_seconds = time.perf_counter() - copy_started
            conn.commit()
            floor.seconds = time.perf_counter() - started
            return floor
    finally:
        drop_postgres(url)
        shutil.rmtree(var_dir, ignore_errors=True)


def _mapped_rows(path: Path, url: str, var_dir: Path) -> Path:
    """The file's latest row per (rater, item), with raters and items created, as COPY text."""
    mapped = var_dir / "mapped.copy"
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bare (user_id text, item_id text, rating real, ts bigint)"
        )
        copy_file(cursor, "COPY bare FROM STDIN (FORMAT csv, HEADER true)", path)
        cursor.execute(
            "INSERT INTO catalog_rater (external_id, attributes, created_at) "
            "SELECT DISTINCT user_id, '{}'::jsonb, now() FROM bare"
        )
        cursor.execute(
            "INSERT INTO catalog_item (external_id, title, description, genres, attributes, "
            "created_at, updated_at) SELECT DISTINCT item_id, '', '', '[]'::jsonb, '{}'::jsonb, "
            "now(), now() FROM bare"
        )
        query = (
            "COPY (SELECT DISTINCT ON (r.id, i.id) r.id, i.id, 'rating', b.rating, "
            "to_timestamp(b.ts), 'import' FROM bare b "
            "JOIN catalog_rater r ON r.external_id = b.user_id "
            "JOIN catalog_item i ON i.external_id = b.item_id "
            "ORDER BY r.id, i.id, b.ts DESC) TO STDOUT"
        )
        with mapped.open("wb") as out, cursor.copy(query) as copy:
            for block in copy:
                out.write(block)
        conn.commit()
    return mapped


# --- Orchestration and report ---------------------------------------------------------------


def bench_one(size: int, backend: str, path: Path, args: argparse.Namespace) -> ImportResult:
    var_dir = args.workdir / f"var-{backend}-{size}"
    if backend == "sqlite":
        url = fresh_sqlite(args.workdir / f"import-{size}.sqlite3")
    else:
        url = recreate_postgres(args.pg_url)
    print(f"importing {size:,} rows into {backend} ...", flush=True)
    result = run_import(path, url, var_dir, args.timeout)
    print(f"  {result.status} in {result.seconds:.1f}s, peak {result.peak_mb:,.0f} MB: "
          f"{result.message}", flush=True)  # fmt: skip
    if not args.keep:
        shutil.rmtree(var_dir, ignore_errors=True)
        if backend == "postgres":
            drop_postgres(url)
        else:
            fresh_sqlite(args.workdir / f"import-{size}.sqlite3")
    return result


def report(rows: list[Row]) -> str:
    header = ("rows", "backend", "status", "import s", "job s", "rows/s", "COPY s", "COPY rows/s",
              "ratio", "floor s", "floor ratio", "vs floor", "peak MB", "targets")  # fmt: skip
    lines = [header, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
            for line in lines]  # fmt: skip
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def _cells(row: Row) -> tuple[str, ...]:
    result = row.result
    rate = row.size / result.seconds if result.status == "succeeded" else None
    copy_rate = row.size / row.copy_seconds if row.copy_seconds else None
    ratio = rate / copy_rate if rate and copy_rate else None
    floor_seconds = row.floor.seconds if row.floor else None
    floor_rate = row.size / floor_seconds if floor_seconds else None
    floor_ratio = floor_rate / copy_rate if floor_rate and copy_rate else None
    return (
        f"{row.size:,}",
        row.backend,
        result.status,
        f"{result.seconds:.1f}",
        f"{result.job_seconds:.1f}" if result.job_seconds is not None else "-",
        f"{rate:,.0f}" if rate else "-",
        f"{row.copy_seconds:.1f}" if row.copy_seconds else "-",
        f"{copy_rate:,.0f}" if copy_rate else "-",
        f"{ratio:.2f}" if ratio else "-",
        f"{floor_seconds:.1f}" if floor_seconds else "-",
        f"{floor_ratio:.2f}" if floor_ratio else "-",
        f"{rate / floor_rate:.2f}" if rate and floor_rate else "-",
        f"{result.peak_mb:,.0f}",
        _verdict(row.size, ratio, result),
    )


def _verdict(size: int, ratio: float | None, result: ImportResult) -> str:
    if result.status != "succeeded":
        return "FAIL"
    checks = [ratio is not None and ratio >= RATIO_TARGET]
    if size >= 10_000_000:
        checks.append(result.peak_mb < PEAK_MB_TARGET)
    return "ok" if all(checks) else "FAIL"


def parse_sizes(text: str) -> list[int]:
    multipliers = {"k": 1_000, "m": 1_000_000}
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        factor = multipliers.get(part[-1:], 1)
        sizes.append(int(float(part.rstrip("km")) * factor))
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1000000,10000000"))
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/recsite_bench")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/recsite-bench"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per import")
    parser.add_argument("--keep", action="store_true", help="keep databases and media copies")
    args = parser.parse_args(argv)
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(args.backends) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for size in args.sizes:
        path = ratings_file(size, args.seed, args.workdir)
        copy_seconds = run_copy(path, args.pg_url)
        print(f"COPY of {size:,} rows: {copy_seconds:.1f}s", flush=True)
        floor = run_floor(path, args.pg_url, args.workdir)
        print(floor.describe(copy_seconds), flush=True)
        for backend in args.backends:
            result = bench_one(size, backend, path, args)
            rows.append(Row(size, backend, result, copy_seconds, floor))
    print()
    print(report(rows))
    print(f"\ntargets: ratio >= {RATIO_TARGET} (import rows/s over COPY rows/s, same file), "
          f"peak RSS < {PEAK_MB_TARGET} MB at 10M rows")  # fmt: skip
    print(
        "floor: the same rows, deduplicated and key-mapped beforehand (untimed), COPYed "
        "into catalog_interaction, its indexes and constraints rebuilt"
    )


if __name__ == "__main__":
    main()
