"""Choose ``ease_mix``'s hyper-parameters on the inner split of the P1 train set (ML-100K).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/tune_ease_mix.py /path/to/ml-100k [--test] \
        [--ials-only] [--values | --values-only] [--inner-seed 42]

EVALUATION.md P1 step 6: the P1 train split (Recommenders' stratified split, seed 42) is split
again 75/25 with the same splitter and seed; every grid point is fitted on the inner train part
and scored (NDCG@10) on the inner test part. The test split is never read for the choice. With
``--test`` the chosen setting is then refitted on all of the P1 train split and scored once on
the P1 test split.

The search has two stages. Stage 1 (EASE, session neighbours, spectral; iALS off) is the grid
that chose the three-component defaults; its choice is the best point with the time context
off (the serving default), 0.2787 (the best of all, 0.2798, has a 7-day margin). Stage 2 starts
from that choice, fits the iALS component for each (α0, λ) of ``IALS_GRID``
and scores ``IALS_WEIGHT_GRID`` (iALS, spectral and neighbour weights) on the fitted components;
``--ials-only`` skips stage 1 and starts stage 2 from ``EASEMixConfig``'s defaults.

The mixing weights and the time-context margin act only at scoring time, so each structural
setting (window, popularity exponent, rank, iALS) is fitted once and the scoring grid reuses it
(``from_state`` in stage 1; the per-user components and ``mix`` in stage 2). A window of 1 and
0.6/0.5 weights were also tried in a first, smaller grid; none came within 0.001 of the best.
``--inner-seed`` replays the inner split with another seed, to check that a choice holds up.

Stage 3 (``--values``, or ``--values-only`` from the defaults) trains the iALS component with
rating confidences, (r / mean r)^``ials_value_exponent``, and re-weights it (this script's
data carry the ratings as interaction values, as the pipeline hands them to ``ease_mix``).
Stages 1 and 2 train on the binary matrix. ``--values-only --test`` ends with: exponent 2,
iALS weight 8 (the current defaults), inner NDCG@10 0.2848, then "P1 test, refitted on all
train: NDCG@10 0.4942 P@10 0.4310 MAP 0.1558".

A run with ``--test`` and without ``--values`` (about 9 minutes on one thread) ends with:
stage 1 choice 0.2787 (the three-component defaults), stage 2 choice 0.2830 (α0 = λ = 0.02,
iALS weight 4, spectral 1.5, neighbour 1.5, binary), then "P1 test, refitted on all train:
NDCG@10 0.4902 P@10 0.4258 MAP 0.1544"; ``--values`` continues from there to the defaults.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

# The script runs as ``python bench/tune_ease_mix.py``, so put the project root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.algorithms.base import AlgorithmConfig, Recommender, TrainOptions  # noqa: E402
from recommender.algorithms.ease_mix import EASEMix, EASEMixConfig  # noqa: E402
from recommender.data import (  # noqa: E402
    Interactions,
    UserBatch,
    Vocabulary,
    interactions_from_frame,
)
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
IALS_GRID = {
    "ials_unobserved_weight": [0.01, 0.02, 0.03, 0.05],
    "ials_l2": [0.01, 0.02, 0.03, 0.05],
}
VALUE_GRID = {"ials_value_exponent": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]}
VALUE_WEIGHT_GRID = {"ials_weight": [3.0, 4.0, 6.0, 8.0, 10.0]}
IALS_WEIGHT_GRID = {
    "ials_weight": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    "spectral_weight": [0.5, 1.0, 1.5, 2.0],
    "neighbour_weight": [1.0, 1.5, 2.0],
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


class Precomputed(Recommender):
    """Fixed scores for the training users (rows by user index), to score a weight grid without
    refolding the iALS component for every point."""

    name: ClassVar[str] = "precomputed_bench"
    config_class: ClassVar[type[AlgorithmConfig]] = AlgorithmConfig

    def __init__(self, scores: np.ndarray) -> None:
        super().__init__(None)
        self.scores = scores

    def fit(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError

    def score(self, batch: UserBatch) -> np.ndarray:
        return self.scores[batch.user_idx]

    def get_state(self) -> dict[str, object]:
        raise NotImplementedError

    @classmethod
    def from_state(cls, config: AlgorithmConfig, state: dict[str, object]) -> Precomputed:
        raise NotImplementedError


def search(train: pd.DataFrame, seed: int = 42) -> tuple[EASEMixConfig, float]:
    """Stage 1: the inner-split best config with the time context off (the serving default)
    and its inner NDCG@10; prints every grid point, those with the time context too."""
    inner_train, inner_test = stratified_split(train, ratio=0.75, seed=seed)
    data = interactions(inner_train)
    targets = ranking_targets(data, inner_test)
    best: tuple[float, EASEMixConfig] | None = None
    print(
        f"{'window':>7}{'gamma':>7}{'rank':>6}{'w_nb':>7}{'w_spec':>7}{'margin':>7}"
        f"{'inner NDCG@10':>15}"
    )
    for structure in grid(STRUCTURE_GRID):
        model = EASEMix(EASEMixConfig(**structure, ials_weight=0.0, ials_value_exponent=0.0))
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
            if config.future_margin_days < 0 and (best is None or value > best[0]):
                best = (value, config)
    assert best is not None
    return best[1], best[0]


def search_ials(
    train: pd.DataFrame, start: EASEMixConfig, seed: int = 42
) -> tuple[EASEMixConfig, float]:
    """Stage 2: the iALS component's (α0, λ) and the mixing weights, from ``start``."""
    fits = [
        # Stage 2 trains the iALS part on the binary matrix.
        replace(start, **s, ials_weight=1.0, future_margin_days=-1.0, ials_value_exponent=0.0)
        for s in grid(IALS_GRID)
    ]
    return _weigh_components(
        train, seed, fits, IALS_WEIGHT_GRID,
        f"{'alpha0':>7}{'l2':>6}{'w_ials':>7}{'w_spec':>7}{'w_nb':>6}",
        lambda c: f"{c.ials_unobserved_weight:>7}{c.ials_l2:>6}{c.ials_weight:>7}"
        f"{c.spectral_weight:>7}{c.neighbour_weight:>6}",
    )  # fmt: skip


def search_values(
    train: pd.DataFrame, start: EASEMixConfig, seed: int = 42
) -> tuple[EASEMixConfig, float]:
    """Stage 3: iALS trained with rating confidences ((r / mean r)^exponent; this script's data
    carry the ratings as values) and the iALS weight, from ``start``."""
    fits = [replace(start, **s, future_margin_days=-1.0) for s in grid(VALUE_GRID)]
    return _weigh_components(
        train, seed, fits, VALUE_WEIGHT_GRID, f"{'exponent':>9}{'w_ials':>7}",
        lambda c: f"{c.ials_value_exponent:>9}{c.ials_weight:>7}",
    )  # fmt: skip


def _weigh_components(
    train: pd.DataFrame,
    seed: int,
    fits: list[EASEMixConfig],
    weight_grid: dict[str, list],
    header: str,
    row: Callable[[EASEMixConfig], str],
) -> tuple[EASEMixConfig, float]:
    """Fit each of ``fits`` on the inner split once, score every point of ``weight_grid`` on
    its components, print a row each; the best config and its inner NDCG@10."""
    inner_train, inner_test = stratified_split(train, ratio=0.75, seed=seed)
    data = interactions(inner_train)
    targets = ranking_targets(data, inner_test)
    history = data.matrix(binary=True)
    assert (np.diff(history.indptr) > 0).all()  # no empty row: ``mix`` is the whole score
    best: tuple[float, EASEMixConfig] | None = None
    print(f"{header}{'inner NDCG@10':>15}")
    for fit_config in fits:
        model = EASEMix(fit_config)
        model.fit(data, TrainOptions())
        components = model.components(history)
        for weights in grid(weight_grid):
            config = replace(model.config, **weights)
            scores = EASEMix(config).mix(components)
            value = evaluate_ranking(Precomputed(scores), data, targets, k=10, with_auc=False)
            print(f"{row(config)}{value['ndcg_at_10']:>15.4f}", flush=True)
            if best is None or value["ndcg_at_10"] > best[0]:
                best = (value["ndcg_at_10"], config)
    assert best is not None
    return best[1], best[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with u.data")
    parser.add_argument("--test", action="store_true", help="score the choice once on P1 test")
    parser.add_argument(
        "--ials-only", action="store_true", help="skip stage 1, start from the defaults"
    )
    parser.add_argument("--values", action="store_true", help="add stage 3 (rating confidences)")
    parser.add_argument(
        "--values-only", action="store_true", help="stage 3 alone, from the defaults"
    )
    parser.add_argument("--inner-seed", type=int, default=42, help="seed of the inner split")
    args = parser.parse_args(argv)
    train, test = stratified_split(read(args.data_dir / "u.data"), ratio=0.75, seed=42)
    config = EASEMixConfig()
    if not (args.ials_only or args.values_only):
        config, inner = search(train, args.inner_seed)
        print(f"\nstage 1 choice (inner NDCG@10 {inner:.4f}): {config.to_dict()}\n")
    if not args.values_only:
        config, inner = search_ials(train, config, args.inner_seed)
        print(f"\nstage 2 choice (inner NDCG@10 {inner:.4f}): {config.to_dict()}\n")
    if args.values or args.values_only:
        config, inner = search_values(train, config, args.inner_seed)
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
