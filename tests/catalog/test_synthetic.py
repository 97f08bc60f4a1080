"""The MovieLens-shaped generator: deterministic, well-formed, and shaped like the real thing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog import synthetic
from catalog.synthetic import GENRES, default_sizes, generate, write_ratings_csv

N = 20_000


@pytest.fixture(scope="module")
def demo() -> synthetic.SyntheticData:
    return generate(N, n_raters=500, n_items=400, seed=7)


def test_same_seed_gives_the_same_data(demo: synthetic.SyntheticData) -> None:
    again = generate(N, n_raters=500, n_items=400, seed=7)

    pd.testing.assert_frame_equal(demo.ratings, again.ratings)
    pd.testing.assert_frame_equal(demo.items, again.items)


def test_another_seed_gives_other_data(demo: synthetic.SyntheticData) -> None:
    other = generate(N, n_raters=500, n_items=400, seed=8)

    assert not demo.ratings.equals(other.ratings)
    assert not demo.items["title"].equals(other.items["title"])


def test_ratings_have_the_requested_shape_and_string_ids(demo: synthetic.SyntheticData) -> None:
    ratings = demo.ratings

    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert len(ratings) == N
    assert ratings["user_id"].nunique() == 500
    assert set(ratings["item_id"]) <= {str(i) for i in range(1, 401)}
    assert all(isinstance(v, str) for v in ratings[["user_id", "item_id"]].iloc[0])
    assert ratings["timestamp"].dtype == np.int64


def test_ratings_are_whole_stars_from_1_to_5_peaking_at_4(
    demo: synthetic.SyntheticData,
) -> None:
    shares = demo.ratings["rating"].value_counts(normalize=True)

    assert set(shares.index) == {1, 2, 3, 4, 5}
    assert shares.idxmax() == 4
    assert shares[1] < shares[2] < shares[3]


def test_items_have_titles_with_a_year_and_movielens_genres(
    demo: synthetic.SyntheticData,
) -> None:
    items = demo.items

    assert list(items.columns) == ["item_id", "title", "genres"]
    assert list(items["item_id"]) == [str(i) for i in range(1, 401)]
    assert items["title"].str.fullmatch(r".+ \((19|20)\d\d\)").all()
    assert all(1 <= len(genres) <= 4 and set(genres) <= set(GENRES) for genres in items["genres"])


def test_top_tenth_of_items_holds_a_large_share() -> None:
    ratings = generate(50_000, seed=3).ratings

    per_item = ratings["item_id"].value_counts()
    top = per_item.iloc[: len(per_item) // 10].sum()

    assert top / len(ratings) > 0.35


def test_every_rater_has_at_least_the_minimum(demo: synthetic.SyntheticData) -> None:
    per_rater = demo.ratings.groupby("user_id").size()

    assert demo.min_per_rater == 20
    assert per_rater.min() >= 20
    assert per_rater.max() > 3 * per_rater.median()  # heavy tail


def test_duplicate_pairs_are_rare(demo: synthetic.SyntheticData) -> None:
    duplicates = demo.ratings.duplicated(["user_id", "item_id"]).sum()

    assert duplicates < 0.01 * N


def test_timestamps_are_per_rater_sessions_within_the_window(
    demo: synthetic.SyntheticData,
) -> None:
    config = synthetic.SyntheticConfig()
    stamps = demo.ratings["timestamp"]
    gaps = demo.ratings.groupby("user_id", sort=False)["timestamp"].diff().dropna()

    assert stamps.min() >= config.start
    assert stamps.max() <= config.start + config.span_days * 86_400
    assert (gaps >= 0).all()
    assert gaps.median() < 600  # most ratings come seconds apart, inside a session
    assert (gaps > 86_400).any()  # and sessions are days apart


def test_taste_structure_beats_popularity(demo: synthetic.SyntheticData) -> None:
    # given: one held-out interaction per rater
    ratings = demo.ratings.sample(frac=1.0, random_state=0)
    held_out = ratings.drop_duplicates("user_id")
    train = ratings.drop(held_out.index)
    users, items = pd.factorize(train["user_id"])[1], pd.Index(demo.items["item_id"])
    matrix = np.zeros((len(users), len(items)))
    matrix[users.get_indexer(train["user_id"]), items.get_indexer(train["item_id"])] = 1.0
    # when: ranking by item co-occurrence and by popularity
    co_occurrence = matrix.T @ matrix
    np.fill_diagonal(co_occurrence, 0.0)
    knn = matrix @ (co_occurrence / np.sqrt(np.outer(matrix.sum(0), matrix.sum(0)) + 1.0))
    popularity = np.broadcast_to(matrix.sum(0), matrix.shape)
    truth = items.get_indexer(held_out.set_index("user_id").loc[users, "item_id"])
    # then
    assert _hit_rate(knn, matrix, truth) > 1.3 * _hit_rate(popularity, matrix, truth)


def _hit_rate(scores: np.ndarray, seen: np.ndarray, truth: np.ndarray) -> float:
    scores = np.where(seen > 0, -np.inf, scores)
    top = np.argsort(-scores, axis=1)[:, :10]
    return float((top == truth[:, None]).any(axis=1).mean())


def test_chunked_writer_writes_exactly_n_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synthetic, "_BLOCK_ROWS", 1_000)  # many blocks from a small file

    path = write_ratings_csv(tmp_path / "r.csv", 12_345, seed=5, chunk_rows=2_000)
    written = pd.read_csv(path, dtype={"user_id": str, "item_id": str})

    assert path.read_text().splitlines()[0] == "user_id,item_id,rating,timestamp"
    assert len(written) == 12_345
    in_memory = generate(12_345, seed=5).ratings
    pd.testing.assert_frame_equal(written, in_memory, check_dtype=False)


def test_output_does_not_depend_on_the_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synthetic, "_BLOCK_ROWS", 1_000)

    small = write_ratings_csv(tmp_path / "a.csv", 8_000, seed=5, chunk_rows=500)
    large = write_ratings_csv(tmp_path / "b.csv", 8_000, seed=5, chunk_rows=1_000_000)

    assert small.read_bytes() == large.read_bytes()


def test_write_csv_writes_ratings_and_items_files(
    tmp_path: Path, demo: synthetic.SyntheticData
) -> None:
    ratings_path, items_path = demo.write_csv(tmp_path)

    assert ratings_path.name == "ratings_synthetic.csv"
    assert items_path.name == "items_synthetic.csv"
    items = pd.read_csv(items_path, dtype=str)
    assert list(items.columns) == ["item_id", "title", "genres"]
    assert items["genres"].iloc[0] == "|".join(demo.items["genres"].iloc[0])
    assert sum(1 for _ in ratings_path.open()) == N + 1


def test_default_sizes_follow_movielens() -> None:
    assert default_sizes(1_000_000) == (6_040, 3_706)
    assert default_sizes(10_000_000) == (69_878, 10_677)
    raters, items = default_sizes(3_000_000)
    assert 6_040 < raters < 69_878
    assert 3_706 < items < 10_677


def test_tiny_totals_lower_the_minimum_instead_of_failing() -> None:
    data = generate(100, n_raters=50, n_items=30, seed=1)

    assert len(data.ratings) == 100
    assert data.ratings.groupby("user_id").size().min() >= 2


def test_rejects_more_raters_than_interactions() -> None:
    with pytest.raises(ValueError, match="n_raters"):
        generate(10, n_raters=11)
