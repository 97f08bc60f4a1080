"""Sequence bench on MovieLens 100K: protocol P3 (temporal leave-last-out, next item).

Usage::

    .venv/bin/python bench/sequence.py /path/to/ml-100k [--models gru4rec,sasrec] [--threads 1]
        [--budget-seconds 600] [--config 'sasrec={"dropout": 0.3}']

P3 as ``shared/EVALUATION.md`` defines it: each rater's interactions are ordered by timestamp
with ties in file order; the last one is the test item, the one before it validation (used for
early stopping only), the rest train. Every item the rater has not interacted with in
train+validation is ranked (no sampled negatives), and HR@10, NDCG@10 and MRR@10 are averaged
over raters. Popularity is always fitted first, and each model's NDCG@10 is compared with it
per user (paired difference and its standard error over users).

Everything goes through :func:`recommender.pipeline.run_protocol`, the code path training runs
use, so the figures are the product's. "train s" is the wall-clock ``fit`` (including the
per-epoch validation pass); "cpu s" is the process CPU time from the start of ``fit`` to its last
epoch; "val NDCG" is the best validation NDCG@10, the figure defaults are chosen on. A model whose
training passes ``--budget-seconds`` of CPU time is stopped and reported as over budget. The
budget counts CPU time rather than wall clock because the peers' figures in EVALUATION.md are
one-thread CPU seconds, and on a shared machine the wall clock mostly measures the other jobs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

# The script runs as ``python bench/sequence.py``, so put the project root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.algorithms import ALGORITHMS  # noqa: E402
from recommender.algorithms.base import TrainOptions  # noqa: E402
from recommender.data import interactions_from_frame  # noqa: E402
from recommender.evaluation.protocols import per_user_ranking  # noqa: E402
from recommender.evaluation.splits import leave_last_out  # noqa: E402
from recommender.pipeline import ProtocolResult, Signal, run_protocol  # noqa: E402

logger = logging.getLogger("bench.sequence")

BASELINE = "popularity"
METRICS = ("hit_rate_at_10", "ndcg_at_10", "mrr_at_10")


class BudgetExceeded(Exception):  # noqa: N818 - an outcome, like TrainingCancelled
    """Training went past ``--budget-seconds``."""


@dataclass
class Row:
    """One model's line of the table."""

    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    train_seconds: float = float("nan")
    cpu_seconds: float = float("nan")
    epochs: int = 0
    best_epoch: int = 0
    best_val: float = float("nan")
    delta: float = float("nan")
    delta_se: float = float("nan")
    note: str = ""


def read_ratings(path: Path) -> pd.DataFrame:
    """``u.data`` in file order: ids as strings, rating as float, Unix seconds as int."""
    return pd.read_csv(
        path,
        sep="\t",
        names=["user_id", "item_id", "value", "timestamp"],
        dtype={"user_id": str, "item_id": str, "value": np.float64, "timestamp": np.int64},
    )


class EpochLog:
    """``on_epoch`` callback: keeps every epoch's metrics and enforces the time budget."""

    def __init__(self, budget_seconds: float) -> None:
        self.budget = budget_seconds
        self.cpu_started = time.process_time()
        self.cpu_seconds = 0.0
        self.history: list[dict[str, float]] = []

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        self.history.append(dict(metrics))
        self.cpu_seconds = time.process_time() - self.cpu_started
        logger.info("epoch %d: %s", epoch, _brief(metrics))
        if self.budget and self.cpu_seconds > self.budget:
            raise BudgetExceeded(f"over {self.budget:.0f} CPU s after epoch {epoch}")

    def best(self) -> tuple[int, float]:
        """(best epoch from 1, its val_ndcg_at_10), the first of equal scores as run_epochs."""
        values = [m.get("val_ndcg_at_10", -np.inf) for m in self.history]
        if not values:
            return 0, float("nan")
        best = int(np.argmax(values))
        return best + 1, float(values[best])


def _brief(metrics: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())


def held_out_history(frame: pd.DataFrame, result: ProtocolResult) -> Any:
    """Train+validation interactions in the fitted model's vocabularies, as P3 evaluates."""
    split = leave_last_out(Signal().apply(frame, explicit=False))
    seen = pd.concat([split.train, split.validation])
    history = interactions_from_frame(seen, users=result.train.users, items=result.train.items)
    return history, split.test


def run_model(
    frame: pd.DataFrame, name: str, config: dict[str, Any], args: argparse.Namespace
) -> tuple[Row, pd.DataFrame | None]:
    """Fit and score one model under P3; returns its row and per-user metrics."""
    log = EpochLog(args.budget_seconds)
    options = TrainOptions(seed=args.seed, threads=args.threads)
    try:
        result = run_protocol(frame, name, config, "p3", options, on_epoch=log)
    except BudgetExceeded as stopped:
        return Row(name, epochs=len(log.history), note=str(stopped)), None
    best_epoch, best_val = log.best()
    row = Row(
        name,
        metrics={key: result.metrics[key] for key in METRICS},
        train_seconds=result.fit_seconds,
        cpu_seconds=log.cpu_seconds if log.history else float("nan"),
        epochs=len(log.history),
        best_epoch=best_epoch,
        best_val=best_val,
    )
    history, test = held_out_history(frame, result)
    per_user = per_user_ranking(result.model, history, test, with_auc=False)
    _check_same_mean(per_user, row)
    return row, per_user.set_index("user_id")


def _check_same_mean(per_user: pd.DataFrame, row: Row) -> None:
    """The per-user figures must average to run_protocol's own (same split, same scores)."""
    mean = float(per_user["ndcg_at_10"].mean())
    if abs(mean - row.metrics["ndcg_at_10"]) > 1e-9:
        raise RuntimeError(f"{row.name}: per-user NDCG {mean} != {row.metrics['ndcg_at_10']}")


def paired_difference(model: pd.DataFrame, baseline: pd.DataFrame) -> tuple[float, float]:
    """Mean per-user NDCG@10 difference (model − baseline) and its standard error."""
    ours, theirs = model["ndcg_at_10"].align(baseline["ndcg_at_10"], join="inner")
    diff = (ours - theirs).to_numpy()
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'model':<11} {'HR@10':>6} {'NDCG@10':>8} {'MRR@10':>7} {'val NDCG':>8} "
        f"{'dNDCG vs pop (SE)':>18} {'train s':>8} {'cpu s':>7} {'epochs (best)':>13}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.note:
            print(f"{row.name:<11} {row.note}")
            continue
        m = row.metrics
        delta = "" if np.isnan(row.delta) else f"{row.delta:+.4f} ({row.delta_se:.4f})"
        epochs = f"{row.epochs} ({row.best_epoch})" if row.epochs else "-"
        val = "" if np.isnan(row.best_val) else f"{row.best_val:.4f}"
        print(
            f"{row.name:<11} {m['hit_rate_at_10']:>6.4f} {m['ndcg_at_10']:>8.4f} "
            f"{m['mrr_at_10']:>7.4f} {val:>8} {delta:>18} {row.train_seconds:>8.1f} "
            f"{row.cpu_seconds:>7.1f} {epochs:>13}"
        )


def parse_configs(values: list[str]) -> dict[str, dict[str, Any]]:
    """``name=JSON`` pairs → {name: config overrides}."""
    configs: dict[str, dict[str, Any]] = {}
    for value in values:
        name, _, text = value.partition("=")
        configs[name] = json.loads(text)
    return configs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path, help="folder with u.data")
    parser.add_argument("--models", default="gru4rec,sasrec")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--budget-seconds", type=float, default=600.0, help="0: no budget")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--config", action="append", default=[], help='name={"key": value}')
    parser.add_argument("--verbose", action="store_true", help="log every epoch")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)  # scoring too, not only the epochs
    frame = read_ratings(args.dataset / "u.data")
    configs = parse_configs(args.config)
    names = [n for n in args.models.split(",") if n and n != BASELINE]
    unknown = [n for n in names if n not in ALGORITHMS]
    if unknown:
        raise SystemExit(f"unknown models: {', '.join(unknown)}")
    base_row, base_users = run_model(frame, BASELINE, configs.get(BASELINE, {}), args)
    rows = [base_row]
    for name in names:
        row, per_user = run_model(frame, name, configs.get(name, {}), args)
        if per_user is not None and base_users is not None:
            row.delta, row.delta_se = paired_difference(per_user, base_users)
        rows.append(row)
    print(f"P3 on {args.dataset} ({len(frame)} ratings), threads {args.threads}, seed {args.seed}")
    print_table(rows)


if __name__ == "__main__":
    main()
