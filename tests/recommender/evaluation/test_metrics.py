"""Metrics: hand-worked lists with exact values, and a cross-check against loop implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.evaluation import metrics

LOG2_3 = math.log2(3)

# User 0: list 1 2 3 4, targets {2, 4, 9}: hits at ranks 2 and 4, |T| = 3 < k = 4.
# User 1: list 5 6 7 8, targets {5, 10, 11, 12, 13}: hit at rank 1, |T| = 5 > k.
# User 2: list 5 6 7 8, targets {20}: no hit.
TOP = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [5, 6, 7, 8]])
TARGETS = [np.array([2, 4, 9]), np.array([13, 5, 10, 11, 12]), np.array([20])]


def test_hit_matrix_marks_relevant_positions():
    expected = [[False, True, False, True], [True, False, False, False], [False] * 4]
    assert metrics.hit_matrix(TOP, TARGETS).tolist() == expected


def test_precision_recall_f1_by_hand():
    assert metrics.precision_at_k(TOP, TARGETS).tolist() == [0.5, 0.25, 0.0]
    assert metrics.recall_at_k(TOP, TARGETS) == pytest.approx([2 / 3, 1 / 5, 0.0])
    # F1 = 2PR / (P + R): user 0 = 2 * 1/2 * 2/3 / (7/6) = 4/7; user 1 = 2 * 1/4 * 1/5 / (9/20)
    assert metrics.f1_at_k(TOP, TARGETS) == pytest.approx([4 / 7, 2 / 9, 0.0])


def test_ndcg_by_hand():
    dcg0 = 1 / LOG2_3 + 1 / math.log2(5)
    ideal0 = 1 + 1 / LOG2_3 + 1 / 2  # min(|T|, k) = 3 ideal hits
    ideal1 = 1 + 1 / LOG2_3 + 1 / 2 + 1 / math.log2(5)  # min(5, 4) = 4
    assert metrics.ndcg_at_k(TOP, TARGETS) == pytest.approx([dcg0 / ideal0, 1 / ideal1, 0.0])


def test_map_normalises_by_all_targets_and_map_at_k_by_the_reachable_ones():
    # user 0: precision at the hit ranks is 1/2 and 2/4; user 1: 1/1
    assert metrics.average_precision(TOP, TARGETS) == pytest.approx([1 / 3, 1 / 5, 0.0])
    assert metrics.average_precision_at_k(TOP, TARGETS) == pytest.approx([1 / 3, 1 / 4, 0.0])


def test_hit_rate_and_reciprocal_rank_by_hand():
    assert metrics.hit_rate_at_k(TOP, TARGETS).tolist() == [1.0, 1.0, 0.0]
    assert metrics.mrr_at_k(TOP, TARGETS).tolist() == [0.5, 1.0, 0.0]


def test_k_cuts_the_list():
    assert metrics.precision_at_k(TOP, TARGETS, k=1).tolist() == [0.0, 1.0, 0.0]
    assert metrics.mrr_at_k(TOP, TARGETS, k=1).tolist() == [0.0, 1.0, 0.0]


def test_ranking_metrics_returns_every_metric_per_user():
    values = metrics.ranking_metrics(TOP, TARGETS)

    assert tuple(values) == metrics.RANKING_METRICS
    assert values["map_at_k"] == pytest.approx([1 / 3, 1 / 4, 0.0])
    assert values["f1"] == pytest.approx([4 / 7, 2 / 9, 0.0])


def test_padding_never_hits_and_a_short_list_still_divides_by_k():
    top = np.array([[7, -1, -1], [-1, -1, -1]])
    targets = [np.array([7, 8]), np.array([2])]

    values = metrics.ranking_metrics(top, targets, k=3)

    assert values["precision"] == pytest.approx([1 / 3, 0.0])
    assert values["recall"] == pytest.approx([0.5, 0.0])
    assert values["ndcg"] == pytest.approx([1 / (1 + 1 / LOG2_3), 0.0])


def test_a_list_shorter_than_k_is_padded_to_k():
    values = metrics.ranking_metrics(np.array([[3]]), [np.array([3])], k=4)
    assert values["precision"].tolist() == [0.25]
    assert values["ndcg"].tolist() == [1.0]


def test_unreachable_targets_stay_in_the_denominators():
    # item 99 lies past the catalogue: it can never be recommended but counts in |T_u|
    top = np.array([[1, 2]])
    assert metrics.recall_at_k(top, [np.array([1, 99])]).tolist() == [0.5]
    assert metrics.average_precision(top, [np.array([1, 99])]).tolist() == [0.5]


def test_duplicate_targets_count_once():
    assert metrics.recall_at_k(np.array([[1, 2]]), [np.array([1, 1, 3])]).tolist() == [0.5]


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="2 target arrays for 3"):
        metrics.hit_matrix(TOP, TARGETS[:2])


# --- cross-check against straightforward per-user loops -------------------------------------------


def loop_metrics(ranked: list[int], relevant: set[int], k: int) -> dict[str, float]:
    """Textbook definitions, one user at a time (EVALUATION.md P1 step 4)."""
    ranked = ranked[:k]
    hits = [item in relevant for item in ranked]
    n_hits = sum(hits)
    dcg = sum(1 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    precision_sum, seen = 0.0, 0
    for rank, hit in enumerate(hits, start=1):
        if hit:
            seen += 1
            precision_sum += seen / rank
    first = next((rank for rank, hit in enumerate(hits, start=1) if hit), None)
    return {
        "precision": n_hits / k,
        "recall": n_hits / len(relevant),
        "ndcg": dcg / ideal,
        "map": precision_sum / len(relevant),
        "map_at_k": precision_sum / min(len(relevant), k),
        "hit_rate": float(n_hits > 0),
        "mrr": 1 / first if first else 0.0,
    }


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_metrics_agree_with_loops(seed):
    # given: random lists over 30 items and random target sets (some items beyond the catalogue)
    rng = np.random.default_rng(seed)
    k, n_users = 10, 50
    top = np.stack([rng.permutation(30)[:k] for _ in range(n_users)])
    targets = [rng.choice(35, size=rng.integers(1, 15), replace=False) for _ in range(n_users)]
    # when
    values = metrics.ranking_metrics(top, targets, k)
    # then
    for name in ("precision", "recall", "ndcg", "map", "map_at_k", "hit_rate", "mrr"):
        expected = [
            loop_metrics(list(t), set(r), k)[name] for t, r in zip(top, targets, strict=True)
        ]
        np.testing.assert_allclose(values[name], expected, rtol=1e-12, err_msg=name)


# --- AUC ------------------------------------------------------------------------------------------


def test_auc_by_hand():
    scores = np.array([[0.9, 0.1, 0.5, 0.3]] * 4)
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0]] * 4))
    targets = [np.array([2]), np.array([1]), np.array([0]), np.array([3, 2])]

    result = metrics.auc(scores, targets, exclude)

    # item 0 is history: user 0's target beats both negatives, user 1's beats none,
    # user 2's only target is history (undefined), user 3: 3 beats 1, 2 beats 1
    assert result[[0, 1, 3]].tolist() == [1.0, 0.0, 1.0]
    assert np.isnan(result[2])


def test_auc_counts_ties_as_half():
    result = metrics.auc(np.array([[1.0, 1.0, 0.0]]), [np.array([0])])
    assert result.tolist() == [0.75]


def test_auc_ignores_targets_outside_the_catalogue():
    result = metrics.auc(np.array([[0.2, 0.8]]), [np.array([1, 5])])
    assert result.tolist() == [1.0]


def test_auc_agrees_with_pairwise_counting():
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, size=(20, 15)).astype(np.float32)  # many ties
    exclude = rng.random((20, 15)) < 0.3
    targets = [rng.choice(15, size=3, replace=False) for _ in range(20)]

    result = metrics.auc(scores, targets, exclude)

    for row in range(20):
        candidates = np.flatnonzero(~exclude[row])
        positives = [i for i in candidates if i in set(targets[row])]
        negatives = [i for i in candidates if i not in set(targets[row])]
        if not positives or not negatives:
            assert np.isnan(result[row])
            continue
        wins = sum(
            1.0
            if scores[row, p] > scores[row, n]
            else 0.5
            if scores[row, p] == scores[row, n]
            else 0
            for p in positives
            for n in negatives
        )
        assert result[row] == pytest.approx(wins / (len(positives) * len(negatives)))


# --- beyond accuracy ------------------------------------------------------------------------------


def test_catalog_coverage_counts_distinct_recommended_items():
    top = np.array([[0, 1, -1], [1, 2, 3]])
    assert metrics.catalog_coverage(top, 8) == 0.5


def test_novelty_and_popularity_bias_by_hand():
    counts = np.array([4.0, 2.0, 1.0, 1.0, 0.0])  # 8 interactions in all
    top = np.array([[0, 1], [2, -1], [4, 3]])

    # -log2(4/8) = 1, -log2(2/8) = 2, -log2(1/8) = 3; an unseen item counts as seen once
    assert metrics.novelty(top, counts).tolist() == [1.5, 3.0, 3.0]
    assert metrics.popularity_bias(top, counts).tolist() == [3.0, 1.0, 0.5]


def test_intra_list_diversity_is_mean_pairwise_cosine_distance():
    features = np.array([[1, 0], [0, 1], [1, 1], [2, 0], [0, 0]], dtype=float)
    top = np.array([[0, 1], [0, 3], [1, 2]])
    three = np.array([[0, 1, 2]])

    assert metrics.intra_list_diversity(top, features) == pytest.approx(
        [1.0, 0.0, 1 - 1 / math.sqrt(2)]
    )
    # pairs (0,1) = 1, (0,2) = (1,2) = 1 - 1/sqrt(2)
    expected = (1 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert metrics.intra_list_diversity(three, sp.csr_matrix(features)) == pytest.approx([expected])


def test_intra_list_diversity_edge_cases():
    features = np.array([[1.0, 0.0], [0.0, 0.0]])
    result = metrics.intra_list_diversity(np.array([[0, 1], [0, -1]]), features)
    assert result[0] == 1.0  # an all-zero feature row is at distance 1
    assert np.isnan(result[1])  # one item has no pairs


# --- rating prediction ----------------------------------------------------------------------------


def test_rating_metrics_by_hand():
    predictions = np.array([3.0, 4.5, 2.0, 5.0])
    truth = np.array([4.0, 4.0, 2.0, 3.0])

    assert metrics.rmse(predictions, truth) == pytest.approx(math.sqrt((1 + 0.25 + 0 + 4) / 4))
    assert metrics.mae(predictions, truth) == pytest.approx((1 + 0.5 + 0 + 2) / 4)
    # like = value >= 3.5: predictions no/like/no/like vs truth like/like/no/no
    assert metrics.like_accuracy(predictions, truth) == 0.5
    assert metrics.like_accuracy(predictions, truth, threshold=2.5) == 1.0
