"""Launch a training run and run it here, synchronously (or on the worker with --queue)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from recommender import services
from recommender.cli import json_object
from recommender.models import TrainingRun


class Command(BaseCommand):
    help = "Train a model on the catalog's interactions, evaluate it and save its artifact."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("algorithm")
        parser.add_argument(
            "--params", default="{}", help='hyper-parameters as JSON, e.g. {"factors": 64}'
        )
        parser.add_argument("--signal", default="{}", help='e.g. {"event_weights": {"rating": 1}}')
        parser.add_argument("--protocol", default="p1", choices=["p1", "p2", "p3"])
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--validation-share",
            type=float,
            default=0.0,
            help="P1: share (0 to below 0.5) of each rater's training rows held out for "
            "per-epoch validation and early stopping (models that train in epochs); 0 = none",
        )
        parser.add_argument("--activate", action="store_true", help="activate it if it succeeds")
        parser.add_argument(
            "--queue", action="store_true", help="run on the Celery worker and wait"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = services.training_run_create(
                algorithm=options["algorithm"],
                config=json_object(options["params"], "--params"),
                signal=json_object(options["signal"], "--signal"),
                protocol=options["protocol"],
                seed=options["seed"],
                validation_share=options["validation_share"],
                enqueue=options["queue"],
            )
        except services.TrainingConfigError as exc:
            raise CommandError(f"invalid {exc.field}: {exc.message}") from exc
        self.stdout.write(f"run {run.pk}: {run.algorithm} {json.dumps(run.config)}")
        if options["queue"]:
            run = _wait(run)
        else:
            services.training_run_execute(run_id=run.pk)
            run.refresh_from_db()
        self._report(run)
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}: {run.error}")
        if options["activate"]:
            services.training_run_activate(run=run)
            self.stdout.write(f"run {run.pk} is now active")

    def _report(self, run: TrainingRun) -> None:
        self.stdout.write(f"run {run.pk} {run.status} in {run.duration_seconds or 0:.1f} s")
        for name, value in sorted(run.metrics.items()):
            if not name.startswith(("cold_", "warm_")):
                self.stdout.write(f"  {name:24s} {value:.4f}")
        if "best_epoch" in run.timings:
            self.stdout.write(f"  {'best_epoch':24s} {run.timings['best_epoch']}")


def _wait(run: TrainingRun, poll: float = 0.5) -> TrainingRun:
    while not run.is_finished:
        time.sleep(poll)
        run.refresh_from_db()
    return run
