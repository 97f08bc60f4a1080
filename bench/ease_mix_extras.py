"""Candidate fourth components for ``ease_mix`` that were not adopted (issue #3), re-measurable.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/ease_mix_extras.py /path/to/ml-100k

Each idea is added to (or changes) the three-component mix (EASE + session neighbours +
spectral at their pre-iALS defaults: neighbour weight 1.5, spectral weight 1.0, iALS off) at the
setting that was best on the seed-42 inner split of the P1 train set in a small grid (see the
list below); the script prints inner NDCG@10 for inner seeds 42, 1 and 2 and, for the record only,
P1 test NDCG@10 after a refit on all of train. The adopted idea, the iALS component, is tuned by
``bench/tune_ease_mix.py``; its row here uses the new defaults. Results are in the module
docstring of ``recommender/algorithms/ease_mix.py``.

Ideas:

- ``temporal``: item popularity in a Gaussian time kernel (bandwidth in days) around each
  user's last training interaction, divided by popularity^β, log1p'd and z-scored; ``temporal
  all`` centres the kernel on all of the user's training timestamps instead.
- ``ratings``: the history weighted 0.75 for ratings below 3 (1 otherwise) in every operator.
- ``user_knn``: cosine user-user neighbours (k = 50) over the binary histories.
- ``bridge``: for consecutive items (a, b) of the user's time-ordered history, the chance that an
  item comes after a and before b in other users' sequences (window 10, decay 0.7), / pop^0.5.
- ``prf``: pseudo-relevance feedback, the mix's top 5 added to the history at weight 0.3.
- ``iALS (r/mean)^4``: the adopted iALS component (the other three at the new defaults) with
  rating confidences (r / mean r)^4 in training (exponent 0-5 and weight 4-10 tried on the
  seed-42 inner split; best 4 and 6), scored either with the same confidences in the history
  or with the binary history that RecSite's evaluator passes to every model.

Output (``OMP_NUM_THREADS=1``, about 3 minutes)::

                                             inner 42  inner 1  inner 2  P1 test
    three-component mix                        0.2787   0.2666   0.2661   0.4841
    + iALS, binary (weight 4)                  0.2830   0.2686   0.2669   0.4902
    + temporal last, bw 10 d, beta 0.5, w 1    0.2794   0.2671   0.2665   0.4839
    + temporal all, bw 10 d, beta 0.5, w 1     0.2792   0.2671   0.2662   0.4843
    ratings < 3 weigh 0.75                     0.2797   0.2665   0.2663   0.4861
    + user kNN k 50, w 0.25                    0.2785   0.2680   0.2667   0.4848
    + bridge, w 0.25                           0.2786   0.2655   0.2662   0.4820
    pseudo-feedback top 5 at 0.3               0.2741   0.2657   0.2649   0.4809
    iALS (r/mean)^4, w 6, valued history       0.2875   0.2743   0.2741   0.4945
    iALS (r/mean)^4, w 6, binary history       0.2843   0.2712   0.2722   0.4919

The last two rows are an exploration (scored with valued histories, exponent 4); the
model's form, the default now, is ``ials_value_exponent`` (training only, scoring binary),
tuned by ``bench/tune_ease_mix.py --values-only``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tune_ease_mix import Precomputed, interactions, read  # noqa: E402

from recommender.algorithms.base import TrainOptions  # noqa: E402
from recommender.algorithms.ease_mix import (  # noqa: E402
    EASEMix,
    EASEMixConfig,
    _zscore,
    ials_fold_in,
    ials_item_factors,
)
from recommender.data import Interactions  # noqa: E402
from recommender.evaluation.protocols import evaluate_ranking, ranking_targets  # noqa: E402
from recommender.evaluation.splits import stratified_split  # noqa: E402

DAY = 86_400.0
THREE = EASEMixConfig(ials_weight=0.0, spectral_weight=1.0)
# The four-component mix before rating confidences (binary iALS at weight 4).
BINARY_IALS = EASEMixConfig(ials_weight=4.0, ials_value_exponent=0.0)


def temporal(data: Interactions, bandwidth_days: float, beta: float, centre: str) -> np.ndarray:
    day = ((data.timestamp - data.timestamp.min()) // DAY).astype(np.int64)
    n_days = int(day.max()) + 1
    item_days = sp.csr_matrix(
        (np.ones(len(day)), (data.item_idx, day)), shape=(data.n_items, n_days)
    ).toarray()
    if centre == "all":
        user_days = sp.csr_matrix(
            (np.ones(len(day)), (data.user_idx, day)), shape=(data.n_users, n_days)
        ).toarray()
        user_days /= np.maximum(user_days.sum(axis=1, keepdims=True), 1.0)
    else:
        last = np.zeros(data.n_users, dtype=np.int64)
        np.maximum.at(last, data.user_idx, day)
        user_days = np.zeros((data.n_users, n_days))
        user_days[np.arange(data.n_users), last] = 1.0
    gaps = np.arange(n_days)[:, None] - np.arange(n_days)[None, :]
    kernel = np.exp(-0.5 * (gaps / bandwidth_days) ** 2)
    scores = user_days @ kernel @ item_days.T
    scores /= np.maximum(item_days.sum(axis=1), 1.0)[None, :] ** beta
    return _zscore(np.log1p(1000.0 * scores))


def user_knn(history: sp.csr_matrix, k: int) -> np.ndarray:
    norm = sp.diags(1.0 / np.sqrt(np.maximum(np.asarray(history.sum(axis=1)).ravel(), 1.0)))
    unit = norm @ history
    sim = (unit @ unit.T).toarray()
    np.fill_diagonal(sim, 0.0)
    drop = np.argpartition(-sim, k, axis=1)[:, k:]
    np.put_along_axis(sim, drop, 0.0, axis=1)
    return _zscore((sp.csr_matrix(sim) @ history).toarray())


def bridge(data: Interactions, window: int, decay: float, beta: float) -> np.ndarray:
    order = np.lexsort((np.arange(len(data)), data.timestamp, data.user_idx))
    users, items = data.user_idx[order], data.item_idx[order]
    rows, cols, weights = [], [], []
    for distance in range(1, window + 1):
        same = users[distance:] == users[:-distance]
        rows.append(items[:-distance][same])
        cols.append(items[distance:][same])
        weights.append(np.full(int(same.sum()), decay ** (distance - 1)))
    n = data.n_items
    counts = sp.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).toarray()
    np.fill_diagonal(counts, 0.0)
    out_total, in_total = counts.sum(axis=1, keepdims=True), counts.sum(axis=0, keepdims=True)
    after = np.divide(counts, out_total, out=np.zeros_like(counts), where=out_total > 0)
    before = np.divide(counts, in_total, out=np.zeros_like(counts), where=in_total > 0)
    scores = np.zeros((data.n_users, n))
    for user, sequence in enumerate(data.sequences()):
        if len(sequence) > 1:
            scores[user] = (after[sequence[:-1]] * before[:, sequence[1:]].T).sum(axis=0)
    scores /= np.maximum(data.item_popularity(), 1.0)[None, :] ** beta
    return _zscore(np.log1p(1e4 * scores))


def rating_ials(data: Interactions, exponent: float, scoring: str) -> np.ndarray:
    """The iALS component (default α0, λ, size, start) with confidences (r / mean r)^exponent
    in training; at scoring, the history carries those confidences (``values``) or is binary
    (``binary``, what RecSite's evaluator passes to every model)."""
    config = EASEMixConfig()
    ratings = data.matrix(binary=False).astype(np.float64)
    confidences = ratings.copy()
    confidences.data = (ratings.data / ratings.data.mean()) ** exponent
    items = ials_item_factors(
        confidences,
        config.ials_factors,
        config.ials_unobserved_weight,
        config.ials_l2,
        config.ials_epochs,
        TrainOptions().rng(),
    )
    history = confidences if scoring == "values" else data.matrix(binary=True)
    users = ials_fold_in(history, items, config.ials_unobserved_weight, config.ials_l2)
    return _zscore(users @ items.T)


def remixed(model: EASEMix, history: sp.csr_matrix) -> np.ndarray:
    """The three-component mix of a weighted (non-binary) history."""
    history = sp.csr_matrix(history, dtype=np.float32)
    ease = _zscore(np.asarray(history @ model.ease_weights))
    neighbours = _zscore(np.asarray(history @ model.neighbour_weights))
    low_pass = _zscore(np.asarray(history @ model.spectral_in) @ model.spectral_out.T)
    return ease + 1.5 * neighbours + 1.0 * low_pass


def ideas(data: Interactions) -> dict[str, np.ndarray]:
    """Full score matrices (users × items) for the training users, one per idea."""
    model = EASEMix(THREE)
    model.fit(data, TrainOptions())
    history = data.matrix(binary=True)
    mix = model.mix(model.components(history))
    ratings = data.matrix(binary=False)
    ratings.data = np.where(ratings.data >= 3, 1.0, 0.75).astype(np.float32)
    masked = mix.copy()
    masked[history.nonzero()] = -np.inf
    top = np.argpartition(-masked, 5, axis=1)[:, :5]
    feedback = history.toarray()
    np.put_along_axis(feedback, top, 0.3, axis=1)
    new = EASEMix(BINARY_IALS)
    new.fit(data, TrainOptions())
    ease, neighbours, low_pass, _ = new.components(history)
    no_ials = ease + 1.5 * neighbours + 1.5 * low_pass
    return {
        "three-component mix": mix,
        "+ iALS, binary (weight 4)": new.mix(new.components(history)),
        "+ temporal last, bw 10 d, beta 0.5, w 1": mix + temporal(data, 10.0, 0.5, "last"),
        "+ temporal all, bw 10 d, beta 0.5, w 1": mix + temporal(data, 10.0, 0.5, "all"),
        "ratings < 3 weigh 0.75": remixed(model, ratings),
        "+ user kNN k 50, w 0.25": mix + 0.25 * user_knn(history, 50),
        "+ bridge, w 0.25": mix + 0.25 * bridge(data, 10, 0.7, 0.5),
        "pseudo-feedback top 5 at 0.3": remixed(model, sp.csr_matrix(feedback)),
        "iALS (r/mean)^4, w 6, valued history": no_ials + 6 * rating_ials(data, 4.0, "values"),
        "iALS (r/mean)^4, w 6, binary history": no_ials + 6 * rating_ials(data, 4.0, "binary"),
    }


def measure(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    data = interactions(train)
    targets = ranking_targets(data, test)
    return {
        name: evaluate_ranking(Precomputed(scores), data, targets, k=10, with_auc=False)[
            "ndcg_at_10"
        ]
        for name, scores in ideas(data).items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with u.data")
    args = parser.parse_args(argv)
    train, test = stratified_split(read(args.data_dir / "u.data"), ratio=0.75, seed=42)
    columns = {
        f"inner {seed}": measure(*stratified_split(train, ratio=0.75, seed=seed))
        for seed in (42, 1, 2)
    }
    columns["P1 test"] = measure(train, test)
    print(pd.DataFrame(columns).round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
