"""Reasons and item neighbours, on hand-made matrices with known answers (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from recommender import explain
from recommender.algorithms.ease import EASE
from recommender.algorithms.itemknn import ItemKNN, ItemKNNConfig
from recommender.algorithms.popularity import Popularity
from recommender.data import interactions_from_frame

# S[i, j]: how much history item i votes for item j.
VOTES = np.array(
    [
        [0.0, 0.9, 0.1, 0.0],
        [0.9, 0.0, 0.5, -0.2],
        [0.1, 0.5, 0.0, 0.3],
        [0.0, -0.2, 0.3, 0.0],
    ]
)


def two_groups():
    """Users 0-3 rate items a0-a2, users 4-7 rate b0-b2; everyone in a group rates all of it."""
    rows = [(f"u{u}", f"a{i}") for u in range(4) for i in range(3)]
    rows += [(f"u{u}", f"b{i}") for u in range(4, 8) for i in range(3)]
    return interactions_from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


@pytest.mark.parametrize("matrix", [VOTES, sp.csr_matrix(VOTES)], ids=["dense", "sparse"])
def test_matrix_relation_reads_votes_into_a_target_and_out_of_a_source(matrix):
    relation = explain.MatrixRelation(matrix)

    assert relation.weights(np.array([0, 2, 3]), 1).tolist() == [0.9, 0.5, -0.2]
    assert relation.row(2).tolist() == [0.1, 0.5, 0.0, 0.3]


def test_contributing_items_are_the_strongest_positive_voters_first():
    relation = explain.MatrixRelation(VOTES)

    assert explain.contributing_items(relation, np.array([0, 2, 3]), 1, top=2).tolist() == [0, 2]
    # item 3 votes against item 1, so it is never a reason for it
    assert explain.contributing_items(relation, np.array([3]), 1).tolist() == []
    # the target itself and unknown items (-1) are ignored
    assert explain.contributing_items(relation, np.array([1, -1, 2]), 1).tolist() == [2]


def test_ties_between_reasons_go_to_the_lower_item_index():
    relation = explain.MatrixRelation(np.ones((4, 4)))

    assert explain.contributing_items(relation, np.array([3, 2, 0]), 1, top=2).tolist() == [0, 2]


def test_most_similar_leaves_out_the_item_itself_and_non_positive_ones():
    relation = explain.MatrixRelation(VOTES)

    found, strengths = explain.most_similar(relation, 1, n=3)

    assert found.tolist() == [0, 2]
    assert strengths.tolist() == [0.9, 0.5]


def test_cosine_relation_is_the_cosine_of_item_vectors():
    relation = explain.CosineRelation(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]))

    assert relation.row(0) == pytest.approx([1.0, 2**-0.5, 0.0])
    assert relation.weights(np.array([0, 2]), 1) == pytest.approx([2**-0.5, 2**-0.5])


def test_cooccurrence_relation_is_the_cosine_of_rater_sets():
    # raters × items: item 0 rated by raters 0,1; item 1 by 1,2; item 2 by 0,1
    matrix = sp.csr_matrix(np.array([[1, 0, 5], [1, 1, 4], [0, 3, 0]], dtype=float))

    relation = explain.CooccurrenceRelation(matrix)

    assert relation.row(0) == pytest.approx([1.0, 0.5, 1.0])


def test_cooccurrence_cosine_from_counts():
    scores = explain.cooccurrence_cosine(np.array([2, 1, 0]), 4, np.array([4, 1, 0]))

    assert scores == pytest.approx([0.5, 0.5, 0.0])


def test_item_knn_and_ease_are_explained_by_their_own_matrices():
    data = two_groups()
    knn, ease = ItemKNN(ItemKNNConfig(weighting="none")), EASE()
    knn.fit(data)
    ease.fit(data)

    assert isinstance(explain.item_relation(knn), explain.MatrixRelation)
    assert isinstance(explain.item_relation(ease), explain.MatrixRelation)
    a0, a1, b0 = (data.items.index_of(i) for i in ("a0", "a1", "b0"))
    for model in (knn, ease):
        found, _ = explain.most_similar(explain.item_relation(model), a0, n=5)
        assert a1 in found.tolist()
        assert b0 not in found.tolist()


def test_item_knn_reasons_come_from_its_own_explain():
    data = two_groups()
    knn = ItemKNN(ItemKNNConfig(weighting="none"))
    knn.fit(data)
    a0, a1, a2, b0 = (data.items.index_of(i) for i in ("a0", "a1", "a2", "b0"))

    found = explain.explaining_items(knn, explain.item_relation(knn), np.array([a1, b0]), a0)

    assert found.tolist() == [a1]
    assert a2 not in found.tolist()


def test_popularity_has_no_item_relation():
    model = Popularity()
    model.fit(two_groups())

    assert explain.item_relation(model) is None


class _EmbeddingModel:
    """The shape of BPR/NCF: a ``net`` with user and item tables and an item bias."""

    n_items = 3

    def __init__(self) -> None:
        self.net = nn.Module()
        self.net.user = nn.Embedding(2, 2)
        self.net.item = nn.Embedding(3, 2)
        self.net.item_bias = nn.Embedding(3, 1)  # one column: a bias, not an embedding
        self.net.item.weight.data = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0]])


def test_embedding_models_relate_items_by_the_cosine_of_their_item_embeddings():
    relation = explain.item_relation(_EmbeddingModel())

    assert isinstance(relation, explain.CosineRelation)
    found, strengths = explain.most_similar(relation, 0, n=2)
    assert found.tolist() == [1]  # item 2 is orthogonal to item 0: cosine 0 is no similarity
    assert strengths == pytest.approx([2 / np.hypot(2, 0.1)])
    assert relation.unit.shape == (3, 2)  # the user table and the bias column are left out


def test_because_text_names_up_to_the_given_titles():
    assert explain.because_text([]) == ""
    assert explain.because_text(["Alien"]) == "Because you rated “Alien”"
    assert explain.because_text(["Alien", "Heat"]) == "Because you rated “Alien” and “Heat”"
    assert explain.because_text(["A", "B", "C"]) == "Because you rated “A”, “B” and “C”"


@pytest.mark.parametrize(
    "relation",
    [
        explain.MatrixRelation(VOTES),
        explain.MatrixRelation(sp.csr_matrix(VOTES)),
        explain.CosineRelation(VOTES + 1.0),
        explain.CooccurrenceRelation(sp.csr_matrix(VOTES > 0.2)),
    ],
    ids=["dense", "sparse", "cosine", "cooccurrence"],
)
def test_many_targets_at_once_give_the_one_by_one_answers(relation):
    history = np.array([3, 0, 1, 2])
    targets = np.array([0, 1, 2, 3, -1])

    found = explain.contributing_items_many(relation, history, targets)

    expected = [explain.contributing_items(relation, history, t).tolist() for t in targets[:-1]]
    assert [f.tolist() for f in found] == [*expected, []]
    block = relation.block(np.array([0, 2]), np.array([1, 3]))
    assert block == pytest.approx(
        np.stack([relation.weights(np.array([0, 2]), t) for t in (1, 3)], axis=1)
    )


def test_many_targets_on_the_votes_matrix():
    found = explain.contributing_items_many(
        explain.MatrixRelation(VOTES), np.array([0, 1, 2, 3]), np.array([1, 3])
    )

    # Item 1: votes 0.9 (item 0) and 0.5 (item 2); item 3: only item 2 votes for it positively.
    assert [f.tolist() for f in found] == [[0, 2], [2]]


class _LightGCNShape:
    """LightGCN once fitted or loaded: final (propagated) tables, no ``net``."""

    n_items = 3

    class embeddings:  # noqa: N801 - mirrors the attribute it stands for
        items = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])


def test_propagated_item_tables_are_used_when_there_is_no_net():
    relation = explain.item_relation(_LightGCNShape())

    found, _ = explain.most_similar(relation, 0, n=2)
    assert found.tolist() == [1]
