"""Run an evaluation protocol offline on a ratings file: no database, same code as training runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from catalog import importers
from recommender.algorithms import ALGORITHMS
from recommender.algorithms.base import ConfigError, TrainOptions
from recommender.cli import json_object
from recommender.data import interactions_from_frame
from recommender.evaluation.protocols import evaluate_rating
from recommender.pipeline import PROTOCOLS, Signal, build_model, run_protocol


class Command(BaseCommand):
    help = (
        "Evaluate an algorithm on a ratings file under protocol p1 (ranking), p2 (rating "
        "prediction) or p3 (next item). Prints metrics with fit and evaluation times."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--ratings", required=True, type=Path, help="any file the importer reads"
        )
        parser.add_argument("--test", type=Path, help="explicit test file (e.g. u1.test for p2)")
        parser.add_argument("--format", default="auto")
        parser.add_argument("--protocol", default="p1", choices=sorted(PROTOCOLS))
        parser.add_argument("--algorithm", required=True, choices=sorted(ALGORITHMS))
        parser.add_argument("--params", default="{}", help="hyper-parameters as JSON")
        parser.add_argument("--signal", default="{}", help="event weights / positive threshold")
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--validation-share",
            type=float,
            default=0.0,
            help="p1/p1-inner: share (0 to below 0.5) of each rater's training rows held out "
            "for per-epoch validation and early stopping (models that train in epochs); "
            "0 = none",
        )
        parser.add_argument("--threads", type=int, default=0)
        parser.add_argument("--device", default="cpu")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--items",
            type=Path,
            help="item file: titles and genres for content models, new-items and diversity "
            "(e.g. u.item)",
        )
        parser.add_argument(
            "--raters",
            type=Path,
            help="rater attribute file for side-feature models and new-raters (e.g. u.user)",
        )
        parser.add_argument(
            "--diversity",
            type=float,
            default=0.0,
            help="MMR re-ranking over genres as served, 0–1 (needs --items)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        params = json_object(options["params"], "--params")
        signal = Signal.from_dict(json_object(options["signal"], "--signal"))
        try:
            train_options = TrainOptions(
                device=options["device"],
                seed=options["seed"],
                threads=options["threads"],
                validation_share=options["validation_share"],
            )
        except ConfigError as exc:
            raise CommandError(f"invalid {exc.field}: {exc.message}") from exc
        frame = read_ratings(options["ratings"], options["format"])
        try:
            if options["test"]:
                result = _explicit_test(
                    frame,
                    read_ratings(options["test"], options["format"]),
                    options["algorithm"],
                    params,
                    train_options,
                    signal,
                )
            else:
                outcome = run_protocol(
                    frame,
                    options["algorithm"],
                    params,
                    options["protocol"],
                    train_options,
                    signal=signal,
                    k=options["k"],
                    item_features=read_item_content(options["items"]) if options["items"] else None,
                    user_features=read_rater_attributes(options["raters"])
                    if options["raters"]
                    else None,
                    diversity=options["diversity"],
                )
                result = {
                    "metrics": outcome.metrics,
                    "fit_seconds": outcome.fit_seconds,
                    "evaluate_seconds": outcome.evaluate_seconds,
                }
                if outcome.best_epoch is not None:
                    result["best_epoch"] = outcome.best_epoch
        except ConfigError as exc:
            raise CommandError(f"invalid {exc.field}: {exc.message}") from exc
        result = {
            "algorithm": options["algorithm"],
            "protocol": options["protocol"],
            "params": params,
            "seed": options["seed"],
            **result,
        }
        self._print(result, options["json"])

    def _print(self, result: dict[str, Any], as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(result, sort_keys=True))
            return
        self.stdout.write(
            f"{result['algorithm']} on {result['protocol']}: fit "
            f"{result['fit_seconds']:.2f} s, evaluate {result['evaluate_seconds']:.2f} s"
        )
        for name, value in sorted(result["metrics"].items()):
            if not name.startswith(("cold_", "warm_")):
                self.stdout.write(f"  {name:24s} {value:.4f}")
        if "best_epoch" in result:
            self.stdout.write(f"  {'best_epoch':24s} {result['best_epoch']}")


def read_ratings(path: Path, file_format: str = "auto") -> pd.DataFrame:
    """A ratings file as ``user_id, item_id, event_type, value, timestamp`` in file order."""
    options = importers.ReadOptions(
        kind="interactions", format=file_format, value_min=-1e9, value_max=1e9
    )
    columns = ["rater", "item", "event_type", "value", "occurred_at"]
    frame = _read_all(path, lambda: importers.read_interactions(path, options), columns)
    stamps = frame["occurred_at"]
    seconds = stamps.astype("int64") // 10**9 if stamps.notna().all() else 0
    return pd.DataFrame(
        {
            "user_id": frame["rater"].astype(str),
            "item_id": frame["item"].astype(str),
            "event_type": frame["event_type"].astype(str),
            "value": frame["value"].astype("float64"),
            "timestamp": seconds,
        }
    )


def _explicit_test(
    train_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    algorithm: str,
    params: dict[str, Any],
    options: TrainOptions,
    signal: Signal,
) -> dict[str, Any]:
    import time

    model = build_model(algorithm, params)
    signalled = signal.apply(
        train_frame, explicit=model.predicts_ratings, rating_values=model.reads_rating_values
    )
    train = interactions_from_frame(signalled)
    started = time.perf_counter()
    model.fit(train, options)
    fit_seconds = time.perf_counter() - started
    metrics = evaluate_rating(model, train, test_frame)
    return {
        "metrics": metrics,
        "fit_seconds": fit_seconds,
        "evaluate_seconds": time.perf_counter() - started - fit_seconds,
    }


def read_item_content(path: Path) -> pd.DataFrame:
    """``title``, ``description`` and ``genres`` per item id from an item file."""
    options = importers.ReadOptions(kind="items")
    columns = ["external_id", "title", "description", "genres"]
    frames = _read_all(path, lambda: importers.read_items(path, options), columns)
    return frames.drop_duplicates("external_id", keep="last").set_index("external_id")


def read_rater_attributes(path: Path) -> pd.DataFrame:
    """Rater attributes (age, gender, occupation, …) per rater id from a rater file."""
    options = importers.ReadOptions(kind="raters")
    frames = _read_all(
        path, lambda: importers.read_raters(path, options), ["external_id", "attributes"]
    )
    frames = frames.drop_duplicates("external_id", keep="last")
    return pd.DataFrame(list(frames["attributes"]), index=frames["external_id"].to_numpy())


def _read_all(path: Path, chunks: Any, columns: list[str]) -> pd.DataFrame:
    """Every valid row of a metadata file; a file with invalid rows is refused with the first."""
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    frames, errors = [], []
    try:
        for chunk in chunks():
            frames.append(chunk.frame[columns])
            errors.extend(chunk.errors)
    except importers.ImportFileError as exc:
        raise CommandError(f"{path}: {exc}") from exc
    if errors:
        first = errors[0]
        raise CommandError(
            f"{path}: {len(errors)} invalid rows; first at line {first.line}, "
            f"column {first.column}: {first.message}"
        )
    return pd.concat(frames, ignore_index=True)
