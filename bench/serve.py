"""Serving speed under load: the recommendations endpoint beside a trivial endpoint.

Usage::

    .venv/bin/python bench/serve.py /path/to/ml-100k [--db postgres|sqlite] [--seconds 10]
        [--concurrency 4,8,16] [--workers 3] [--threads 4]

It builds a fresh database (PostgreSQL database ``recsite_serve_bench`` or a SQLite file),
imports ``u.item`` and ``u.data`` with the import command, trains and activates EASE, creates an
API key, starts gunicorn on 127.0.0.1 and sends keep-alive requests from separate client
processes, bounded in time, to ``/api/v1/health/`` (the framework's floor: DRF, key auth,
throttling, no model) and to ``/api/v1/raters/<id>/recommendations/`` for random raters. It
first requests every rater's list once (nothing cached yet: each list is computed) and then
prints requests per second and p50/p99 latency per concurrency level, the throughput ratio, and
the time from posting a rating to a list that reflects it. Loopback only. The shared cache is
Redis (``--cache-url``, as production runs; ``''`` for the file cache).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="recsite-serve-"))
    env = environment(args, work)
    try:
        key, raters = prepare(args, env)
        port = free_port()
        server = start_gunicorn(env, port, args.workers, args.threads)
        try:
            report(args, port, key, raters)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path, help="folder with MovieLens 100K u.data and u.item")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", default="4,8,16")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--algorithm", default="ease")
    parser.add_argument(
        "--cache-url",
        default="redis://127.0.0.1:6379/14",
        help="the shared cache (CACHE_URL) as production runs it; '' for the file cache",
    )
    return parser.parse_args()


def environment(args: argparse.Namespace, work: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "RECSITE_VAR_DIR": str(work / "var"),
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "RECSITE_API_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "CACHE_URL": args.cache_url,
    }
    if args.cache_url:
        import redis

        redis.Redis.from_url(args.cache_url).flushdb()  # no stamps or lists from an earlier run
    if args.db == "postgres":
        import psycopg

        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS recsite_serve_bench")
            conn.execute("CREATE DATABASE recsite_serve_bench")
        env["DATABASE_URL"] = f"{args.pg}/recsite_serve_bench"
    else:
        env["DATABASE_URL"] = f"sqlite:///{work / 'serve.sqlite3'}"
    return env


def manage(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [PY, "manage.py", *argv], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def prepare(args: argparse.Namespace, env: dict[str, str]) -> tuple[str, list[str]]:
    manage(env, "migrate", "--noinput")
    manage(env, "import_ratings", str(args.dataset / "u.item"), str(args.dataset / "u.data"))
    manage(env, "train", args.algorithm, "--activate")
    out = manage(
        env,
        "shell",
        "-c",
        (
            "from catalog.services import api_key_create; from catalog.models import Rater;"
            "k, raw = api_key_create(name='bench', scopes=['read', 'feedback']);"
            "ids = list(Rater.objects.values_list('external_id', flat=True));"
            "import json; print(json.dumps([raw, ids]))"
        ),
    )
    raw, raters = json.loads(out.strip().splitlines()[-1])
    return raw, raters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "recsite.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health/")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not start")


def client(
    port: int, paths: list[str], key: str, seconds: float, seed: int | None, out: mp.Queue
) -> None:
    """One keep-alive connection sending requests back to back until the time is up: random
    paths, or (``seed`` None) each path once, in order."""
    rng = random.Random(seed)
    queue = iter(paths)
    headers = {"Authorization": f"Api-Key {key}", "Connection": "keep-alive"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors = [], 0
    stop = time.perf_counter() + seconds
    while (start := time.perf_counter()) < stop:
        path = rng.choice(paths) if seed is not None else next(queue, None)
        if path is None:
            break
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - start)
        errors += response.status != 200
    out.put((latencies, errors))


def load(
    port: int, paths: list[str], key: str, seconds: float, concurrency: int, once: bool = False
) -> dict:
    """Random ``paths`` for ``seconds`` from ``concurrency`` clients; with ``once``, each path
    once, shared out between the clients (bounded by ``seconds`` too)."""
    queue: mp.Queue = mp.Queue()
    procs = [
        mp.Process(
            target=client,
            args=(
                port,
                paths[i::concurrency] if once else paths,
                key,
                seconds,
                None if once else i,
                queue,
            ),
        )
        for i in range(concurrency)
    ]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    latencies = np.concatenate([np.array(r[0]) for r in results]) * 1000
    return {
        "rps": len(latencies) / (min(elapsed, seconds) if once else seconds),
        "p50": float(np.percentile(latencies, 50)),
        "p99": float(np.percentile(latencies, 99)),
        "errors": sum(r[1] for r in results),
    }


def rating_to_list_ms(port: int, key: str, rater: str) -> float:
    """Post a rating of the rater's top item, then read the list until it is gone."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    path = f"/api/v1/raters/{rater}/recommendations/?k=10"
    conn.request("GET", path, headers=headers)
    top = json.loads(conn.getresponse().read())["results"][0]["external_id"]
    start = time.perf_counter()
    body = json.dumps({"rater": rater, "item": top, "value": 5})
    conn.request("POST", "/api/v1/events/", body=body, headers=headers)
    conn.getresponse().read()
    while True:
        conn.request("GET", path, headers=headers)
        items = [r["external_id"] for r in json.loads(conn.getresponse().read())["results"]]
        if top not in items:
            return (time.perf_counter() - start) * 1000


def report(args: argparse.Namespace, port: int, key: str, raters: list[str]) -> None:
    rec_paths = [f"/api/v1/raters/{r}/recommendations/?k=10" for r in raters]
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads, db={args.db}, "
        f"cache={args.cache_url or 'files'}, "
        f"{os.cpu_count()} cores, {args.seconds:.0f} s per measurement, loopback"
    )
    print(
        f"{'endpoint':18s} {'conc':>5s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}"
    )
    # Every rater's first request: nothing cached, each list is computed (precomputed lookup or
    # fold-in, reasons, items). Later requests for an unchanged rater reuse the cached list.
    first = load(port, rec_paths, key, 60.0, 4, once=True)
    print(
        f"{'first per rater':18s} {4:5d} {first['rps']:8.0f} {first['p50']:8.2f} "
        f"{first['p99']:8.2f} {first['errors']:7d}   (every list computed, none cached)"
    )
    best = {}
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        for name, paths in (
            ("health (floor)", ["/api/v1/health/"]),
            ("recommendations", rec_paths),
        ):
            load(port, paths, key, 1.0, concurrency)  # warm-up: caches, model load per worker
            stats = load(port, paths, key, args.seconds, concurrency)
            best[name] = max(best.get(name, 0.0), stats["rps"])
            print(
                f"{name:18s} {concurrency:5d} {stats['rps']:8.0f} {stats['p50']:8.2f} "
                f"{stats['p99']:8.2f} {stats['errors']:7d}"
            )
    ratio = best["health (floor)"] / best["recommendations"]
    print(
        f"peak throughput: health {best['health (floor)']:.0f} req/s, recommendations "
        f"{best['recommendations']:.0f} req/s; floor/recommendations = {ratio:.2f}x"
    )
    samples = [rating_to_list_ms(port, key, r) for r in random.Random(7).sample(raters, 20)]
    print(
        f"rating → list that reflects it: median {np.median(samples):.1f} ms, "
        f"max {np.max(samples):.1f} ms over {len(samples)} raters"
    )


if __name__ == "__main__":
    main()
