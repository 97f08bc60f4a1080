"""LightGCN on MovieLens 100K, protocol P1 (top-10 ranking, random 75/25 per-user split).

Usage::

    .venv/bin/python bench/lightgcn.py /path/to/ml-100k [--threads 1] [--inner] [--config JSON]

Prints the P1 figures of ``shared/EVALUATION.md`` for LightGCN with its default
hyper-parameters (or ``--config`` overrides) and the wall-clock seconds of ``fit`` on this
machine, with the load average, so the time can be compared with RecBole's 100 s here.
``--inner`` fits on the inner 75/25 split of P1's train part (seed 42) and scores its held-out
quarter: the split the defaults were chosen on. ``--threads 1`` is what the quoted figures use
on the shared two-core machine (two threads contend with other jobs there).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.algorithms.base import TrainOptions  # noqa: E402
from recommender.algorithms.lightgcn import LightGCN, LightGCNConfig  # noqa: E402
from recommender.data import Vocabulary, interactions_from_frame  # noqa: E402
from recommender.evaluation.protocols import evaluate_ranking  # noqa: E402
from recommender.evaluation.splits import stratified_split  # noqa: E402

COLUMNS = [
    ("NDCG@10", "ndcg_at_10"),
    ("P@10", "precision_at_10"),
    ("R@10", "recall_at_10"),
    ("MAP", "map"),
    ("HR@10", "hit_rate_at_10"),
    ("MRR@10", "mrr_at_10"),
    ("cov", "coverage_at_10"),
]


def read_ratings(path: Path) -> pd.DataFrame:
    return pd.read_csv(
        path,
        sep="\t",
        names=["user_id", "item_id", "value", "timestamp"],
        dtype={"user_id": str, "item_id": str, "value": np.float64, "timestamp": np.int64},
    )


def numeric_vocabulary(ids: pd.Series) -> Vocabulary:
    """MovieLens ids in numeric order (ties between equal scores go to the lower id)."""
    return Vocabulary(sorted(ids.unique(), key=int))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with u.data")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--inner", action="store_true", help="inner split of P1 train")
    parser.add_argument("--config", default="{}", help="LightGCN config overrides as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    train_frame, test_frame = stratified_split(read_ratings(args.data_dir / "u.data"), 0.75, 42)
    if args.inner:
        train_frame, test_frame = stratified_split(train_frame, 0.75, 42)
    train = interactions_from_frame(
        train_frame,
        users=numeric_vocabulary(train_frame["user_id"]),
        items=numeric_vocabulary(train_frame["item_id"]),
    )
    config = LightGCNConfig.from_dict(json.loads(args.config))
    model = LightGCN(config)
    started = time.perf_counter()
    model.fit(train, TrainOptions(seed=42, threads=args.threads))
    fit_seconds = time.perf_counter() - started
    figures = evaluate_ranking(model, train, test_frame, k=10, with_auc=False)
    label = "inner split of P1 train" if args.inner else "P1 test"
    print(f"LightGCN on ML-100K, {label}; config {config.to_dict()}")
    print("".join(f"{title:>9}" for title, _ in COLUMNS) + f"{'fit s':>8}")
    print("".join(f"{figures[key]:>9.4f}" for _, key in COLUMNS) + f"{fit_seconds:>8.1f}")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"threads {args.threads or 'default'}, load {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
