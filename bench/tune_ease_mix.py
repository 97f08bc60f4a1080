"""Choose ``ease_mix``'s hyper-parameters on the inner split of the P1 train set (ML-100K).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/tune_ease_mix.py /path/to/ml-100k [--test]

EVALUATION.md P1 step 6: the P1 train split (Recommenders' stratified split, seed 42) is split
again 75/25 with the same splitter and seed; every grid point is fitted on the inner train part
and scored (NDCG@10) on the inner test part. The test split is never read for the choice. With
``--test`` the chosen setting is then refitted on all of the P1 train split and scored once on
the P1 test split.

The mixing weights and the time-context margin act only at scoring time, so each structural
setting (window, popularity exponent, rank) is fitted once and the scoring grid reuses its state
through ``from_state``. A window of 1 and 0.6/0.5 weights were also tried in a first, smaller
grid; none came within 0.001 of the best.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

# The script runs as ``python bench/tune_ease_mix.py``, so put the project root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.algorithms.base import TrainOptions  # noqa: E402
from recommender.algorithms.ease_mix import EASEMix, EASEMixConfig  # noqa: E402
from recommender.data import Interactions, Vocabulary, interactions_from_frame  # noqa: E402
from recommender.evaluation.protocols import evaluate_ranking, ranking_targets  # noqa: E402
from recommender.evaluation.splits import stratified_split  # noqa: E402

STRUCTURE_GRID = {
    "neighbour_window": [3, 10],
    "neighbour_popularity_exponent": [0.25, 0.5],
    "spectral_rank": [16, 32, 64],
}
WEIGHT_GRID = {
    "neighbour_weight": [0.0, 0.3, 0.6, 1.0, 1.5, 2.0],
    "spectral_weight": [0.0, 0.25, 0.5, 1.0, 1.5],
    "future_margin_days": [-1.0, 1.0, 7.0],
}
NAMES = ["user_id", "item_id", "value", "timestamp"]


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", names=NAMES, dtype={"user_id": str, "item_id": str})


def interactions(frame: pd.DataFrame) -> Interactions:
    def vocabulary(ids: pd.Series) -> Vocabulary:
        return Vocabulary(sorted(ids.unique(), key=int))  # ties go to the lower MovieLens id

    return interactions_from_frame(
        frame, users=vocabulary(frame["user_id"]), items=vocabulary(frame["item_id"])
    )


def ndcg(model: EASEMix, train: Interactions, test: pd.DataFrame) -> dict[str, float]:
    return evaluate_ranking(model, train, ranking_targets(train, test), k=10, with_auc=False)


def grid(values: dict[str, list]) -> list[dict]:
    return [dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())]


def search(train: pd.DataFrame) -> tuple[EASEMixConfig, float]:
    """The inner-split best config and its inner NDCG@10; prints every grid point."""
    inner_train, inner_test = stratified_split(train, ratio=0.75, seed=42)
    data = interactions(inner_train)
    targets = ranking_targets(data, inner_test)
    best: tuple[float, EASEMixConfig] | None = None
    print(
        f"{'window':>7}{'gamma':>7}{'rank':>6}{'w_nb':>7}{'w_spec':>7}{'margin':>7}"
        f"{'inner NDCG@10':>15}"
    )
    for structure in grid(STRUCTURE_GRID):
        model = EASEMix(EASEMixConfig(**structure))
        model.fit(data, TrainOptions())
        state = model.get_state()
        for weights in grid(WEIGHT_GRID):
            config = replace(model.config, **weights)
            scored = EASEMix.from_state(config, state)
            value = evaluate_ranking(scored, data, targets, k=10, with_auc=False)["ndcg_at_10"]
            print(
                f"{config.neighbour_window:>7}{config.neighbour_popularity_exponent:>7}"
                f"{config.spectral_rank:>6}{config.neighbour_weight:>7}"
                f"{config.spectral_weight:>7}{config.future_margin_days:>7}{value:>15.4f}",
                flush=True,
            )
            if best is None or value > best[0]:
                best = (value, config)
    assert best is not None
    return best[1], best[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with u.data")
    parser.add_argument("--test", action="store_true", help="score the choice once on P1 test")
    args = parser.parse_args(argv)
    train, test = stratified_split(read(args.data_dir / "u.data"), ratio=0.75, seed=42)
    config, inner = search(train)
    print(f"\nchosen on the inner split (NDCG@10 {inner:.4f}): {config.to_dict()}")
    if args.test:
        data = interactions(train)
        model = EASEMix(config)
        start = time.perf_counter()
        model.fit(data, TrainOptions())
        fit_s = time.perf_counter() - start
        figures = ndcg(model, data, test)
        print(
            f"P1 test, refitted on all train: NDCG@10 {figures['ndcg_at_10']:.4f} "
            f"P@10 {figures['precision_at_10']:.4f} MAP {figures['map']:.4f} fit {fit_s:.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
