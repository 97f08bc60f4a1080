"""Training runs on real Celery workers over the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from catalog.models import Interaction, Item, Rater
from recommender import services
from recommender.models import TrainingRun

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def small_catalog() -> None:
    items = Item.objects.bulk_create([Item(external_id=f"i{n}") for n in range(12)])
    raters = Rater.objects.bulk_create([Rater(external_id=f"r{n}") for n in range(20)])
    Interaction.objects.bulk_create(
        Interaction(rater=r, item=items[(n + k) % 12], value=4.0, occurred_at="2024-01-01T00:00Z")
        for n, r in enumerate(raters)
        for k in range(5)
    )


@pytest.mark.integration
def test_a_launched_run_trains_on_the_worker(celery_worker):
    small_catalog()

    run = services.training_run_create(algorithm="itemknn")
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, what="the run to finish")

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.artifact


@pytest.mark.integration
def test_a_killed_worker_leaves_a_failed_run_not_a_running_one(
    transactional_db, tmp_path, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs a database it can share: PostgreSQL")
    small_catalog()
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RECSITE_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "RECSITE_HEARTBEAT_SECONDS": "0.2",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "recsite",
            "worker",
            "-Q",
            "training",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run = services.training_run_create(algorithm="bpr", config={"epochs": 10_000})
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).epochs_done >= 1, 120, "training")
        assert services.stale_runs_fail(older_than=timedelta(seconds=2)) == 0  # alive: kept

        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        time.sleep(2.5)
        reaped = services.stale_runs_fail(older_than=timedelta(seconds=2))
    finally:
        if worker.poll() is None:
            worker.kill()

    run.refresh_from_db()
    assert reaped == 1
    assert run.status == TrainingRun.Status.FAILED
    assert "Worker lost" in run.error
