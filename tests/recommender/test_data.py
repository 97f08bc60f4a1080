"""Vocabularies, interaction matrices and user batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.data import Vocabulary, interactions_from_frame, user_batch


def test_vocabulary_maps_ids_to_indices_and_back():
    vocab = Vocabulary(["b", "a", "c"])

    assert len(vocab) == 3
    assert vocab.index_of("a") == 1
    assert vocab.index_of("zzz") == -1
    assert vocab.indices(["c", "nope", "b"]).tolist() == [2, -1, 0]
    assert vocab.ids([2, 0]) == ["c", "b"]
    assert vocab.ids() == ["b", "a", "c"]
    assert "a" in vocab
    assert "d" not in vocab


def test_vocabulary_from_values_is_sorted_and_stringified():
    vocab = Vocabulary.from_values([3, "1", 2, 3])

    assert vocab.ids() == ["1", "2", "3"]
    assert vocab == Vocabulary(["1", "2", "3"])
    assert vocab != Vocabulary(["3", "2", "1"])


def test_vocabulary_rejects_duplicates():
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a"])


RATINGS = pd.DataFrame(
    {
        "user_id": ["u2", "u1", "u2", "u1", "u2"],
        "item_id": ["x", "y", "y", "x", "x"],
        "value": [4.0, 5.0, 2.0, 1.0, 3.0],
        "timestamp": [30, 20, 10, 20, 40],
    }
)


def test_interactions_from_frame_builds_sorted_vocabularies_and_parallel_arrays():
    data = interactions_from_frame(RATINGS)

    assert data.users.ids() == ["u1", "u2"]
    assert data.items.ids() == ["x", "y"]
    assert data.user_idx.tolist() == [1, 0, 1, 0, 1]
    assert data.item_idx.tolist() == [0, 1, 1, 0, 0]
    assert data.value.dtype == np.float32
    assert data.timestamp.tolist() == [30, 20, 10, 20, 40]
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 5)


def test_rows_outside_given_vocabularies_are_dropped():
    data = interactions_from_frame(RATINGS, items=Vocabulary(["y"]))

    assert len(data) == 2
    assert data.items.ids() == ["y"]
    assert data.value.tolist() == [5.0, 2.0]


def test_value_and_timestamp_default_when_absent():
    data = interactions_from_frame(RATINGS[["user_id", "item_id"]])

    assert data.value.tolist() == [1.0] * 5
    assert data.timestamp.tolist() == [0] * 5


def test_datetime_timestamps_become_unix_seconds():
    frame = RATINGS.head(2).assign(
        timestamp=pd.to_datetime(["1970-01-01 00:00:10", "2001-09-09 01:46:40"])
    )
    aware = frame.assign(timestamp=frame["timestamp"].dt.tz_localize("Europe/Paris"))

    assert interactions_from_frame(frame).timestamp.tolist() == [10, 1_000_000_000]
    # 00:00:10 in Paris (UTC+1 in winter, +2 in summer) is earlier in UTC
    assert interactions_from_frame(aware).timestamp.tolist() == [10 - 3600, 1_000_000_000 - 7200]


def test_matrix_sums_duplicates_or_binarises():
    data = interactions_from_frame(RATINGS)

    assert data.matrix(binary=True).toarray().tolist() == [[1, 1], [1, 1]]
    # u2 rated x twice (4 and 3): explicit values add up
    assert data.matrix(binary=False).toarray().tolist() == [[1, 5], [7, 2]]
    assert data.matrix().dtype == np.float32


def test_sequences_are_in_time_order_with_ties_in_input_order():
    data = interactions_from_frame(RATINGS)

    sequences = data.sequences()

    # u1: y (t=20, first in the file) then x (t=20); u2: y (10), x (30), x (40)
    assert [s.tolist() for s in sequences] == [[1, 0], [1, 0, 0]]


def test_item_popularity_counts_distinct_users():
    assert interactions_from_frame(RATINGS).item_popularity().tolist() == [2.0, 2.0]


def test_user_batch_carries_history_and_sequences_of_the_chosen_users():
    data = interactions_from_frame(RATINGS)

    batch = user_batch(data, np.array([1]))

    assert len(batch) == 1
    assert batch.user_idx.tolist() == [1]
    assert batch.history.toarray().tolist() == [[1.0, 1.0]]
    assert [s.tolist() for s in batch.sequences] == [[1, 0, 0]]
    assert user_batch(data, np.array([1]), binary=False).history.toarray().tolist() == [[7.0, 2.0]]
