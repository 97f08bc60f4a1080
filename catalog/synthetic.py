"""MovieLens-shaped synthetic ratings with real structure, for benchmarks, demos and tests.

Pure NumPy/pandas (no Django), deterministic from a seed. The generator builds a small "world"
and then draws interactions from it:

- raters and items have ``k``-dimensional taste vectors; each of MovieLens' 18 genres is a
  direction in the same space, items take their genres from their vector and their vector from
  their genres, and raters lean towards a few favourite genres;
- item popularity follows a Zipf curve by (randomly assigned) rank, flattened at the head and
  cut off exponentially in the tail (a fit to ML-100K's rank-frequency curve); each interaction
  draws a few popular candidates and the rater picks among them by taste, so choices carry both
  signals (on ML-100K-sized data item-based models beat popularity about 2:1, as on the real one);
- rater activity is log-normal with a floor (MovieLens keeps raters with at least 20 ratings) and
  a cap (no rater rates more than ``max_share_of_items`` of the catalogue);
- a rating 1–5 comes from rater bias + item quality + taste affinity + noise, cut at thresholds
  calibrated so the shares match MovieLens (about 6/11/27/34/22 %, peaking at 4);
- each rater's timestamps come in sessions (seconds apart inside one, days apart between them)
  inside a window of a few years starting in 2000;
- items get made-up movie titles with a year ("The Silent Harbor (1997)") and 1–4 genres.

Rows are generated per block of raters (about ``_BLOCK_ROWS`` rows, each block with its own
random stream), so the output does not depend on the chunk size, and writing 10M rows needs only
one chunk in memory::

    data = generate(1_000_000, seed=42)
    data.ratings.head()                     # DataFrame: user_id, item_id, rating, timestamp
    data.write_csv("/tmp/synthetic")        # ratings_synthetic.csv, items_synthetic.csv
    write_ratings_csv("/tmp/r10m.csv", 10_000_000, chunk_rows=1_000_000)   # streamed

Duplicate (rater, item) pairs are resampled a few times and end up rare, but may remain, as in
real logs; importers collapse them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
)  # fmt: skip
# Movies per genre in ML-1M (same order as GENRES): the prior of each genre.
_GENRE_COUNTS = (503, 283, 105, 251, 1200, 211, 127, 1603, 68, 44, 343, 114, 106, 471, 276, 492,
                 143, 68)  # fmt: skip
_GENRES_PER_ITEM = (0.50, 0.34, 0.13, 0.03)  # P(1, 2, 3, 4 genres), close to ML-100K
RATING_SHARES = (0.06, 0.11, 0.27, 0.34, 0.22)  # ratings 1..5 in ML-100K / ML-1M

# (interactions, raters, items) of MovieLens releases; default sizes interpolate between them.
_MOVIELENS_SIZES = (
    (100_000, 943, 1_682),
    (1_000_000, 6_040, 3_706),
    (10_000_000, 69_878, 10_677),
    (25_000_000, 162_541, 62_423),
)

RATINGS_FILE = "ratings_synthetic.csv"
ITEMS_FILE = "items_synthetic.csv"
RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
_BLOCK_ROWS = 1 << 17  # rows per generation block (each block has its own random stream)
_DEDUP_ROUNDS = 16  # times a block redraws its duplicate (rater, item) pairs
_TABLE_CELLS = 1 << 22  # float32 cells of one rater × item affinity table (16 MB)
_CALIBRATION_ROWS = 100_000

# Random streams: one per purpose, so changing one part never shifts another.
_STREAM_ITEMS, _STREAM_RATERS, _STREAM_CALIBRATION, _STREAM_BLOCK, _STREAM_TITLES = range(5)


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generated world; the defaults give MovieLens-like statistics."""

    factors: int = 8  # latent taste dimensions shared by raters, items and genres (4–32)
    min_per_rater: int = 20  # fewest interactions of a rater (ML: 20); lowered for tiny totals
    activity_sigma: float = 1.0  # log-normal sigma of rater activity: weight of the tail (0.5–1.5)
    max_share_of_items: float = 0.6  # no rater rates more than this share of the items
    popularity_exponent: float = 1.0  # Zipf exponent of popularity by rank (0.5–1.5)
    popularity_offset: float = 170.0  # flattens the head: weight ∝ (rank + offset) ** -exponent
    popularity_cutoff: float = 4.0  # exponential tail: weight × exp(-cutoff × rank / items)
    candidates: int = 6  # popular candidates a rater picks among per interaction (1 = no taste)
    choice_sharpness: float = 10.0  # how strongly taste picks among the candidates (0 = at random)
    genre_pull: float = 0.7  # share of an item's vector set by its genres (0–1)
    rater_bias_std: float = 0.45  # spread of raters' mean ratings (ML-100K: 0.45)
    item_bias_std: float = 0.5  # spread of item quality (ML-100K: 0.53)
    quality_popularity_corr: float = 0.5  # popular items are rated higher (ML-100K: 0.52)
    taste_weight: float = 1.0  # weight of rater–item affinity in a rating
    noise_std: float = 0.6  # per-rating noise
    session_length: float = 40.0  # mean ratings per session
    within_session_gap_s: float = 30.0  # mean seconds between ratings of one session
    between_session_gap_days: float = 3.0  # median days between a rater's sessions (log-normal)
    start: int = 946_684_800  # earliest timestamp: 2000-01-01 00:00 UTC
    span_days: int = 3 * 365  # timestamps fall within this many days of `start`


@dataclass(frozen=True)
class _World:
    """The latent model every interaction is drawn from (index 0 is rater / item id 1)."""

    seed: int
    config: SyntheticConfig
    minimum: int  # the floor of every rater's activity
    counts: np.ndarray  # int64 (n_raters,): interactions per rater, summing to n_interactions
    rater_factors: np.ndarray  # float32 (n_raters, k)
    rater_bias: np.ndarray  # float32 (n_raters,)
    item_factors: np.ndarray  # float32 (n_items, k)
    item_bias: np.ndarray  # float32 (n_items,)
    item_genres: np.ndarray  # bool (n_items, 18)
    alias_prob: np.ndarray  # float32 (n_items,): Walker alias table of popularity
    alias_index: np.ndarray  # int32 (n_items,)
    thresholds: np.ndarray  # float64 (4,): latent cut points between ratings 1|2|3|4|5

    @property
    def n_raters(self) -> int:
        return len(self.counts)

    @property
    def n_items(self) -> int:
        return len(self.item_bias)


@dataclass(frozen=True)
class _Block:
    rater: np.ndarray  # int32, 0-based
    item: np.ndarray  # int32, 0-based
    rating: np.ndarray  # int8, 1..5
    timestamp: np.ndarray  # int64, unix seconds


@dataclass(frozen=True)
class SyntheticData:
    """A generated data set; ratings are drawn when first asked for (or streamed to a file)."""

    world: _World

    @property
    def n_interactions(self) -> int:
        return int(self.world.counts.sum())

    @property
    def min_per_rater(self) -> int:
        """The floor of every rater's activity (``config.min_per_rater``, lower for tiny sets)."""
        return self.world.minimum

    @cached_property
    def ratings(self) -> pd.DataFrame:
        """Every interaction: user_id, item_id (strings), rating (1–5), timestamp (unix s)."""
        blocks = list(_iter_blocks(self.world))
        return _ratings_frame(_concat(blocks))

    @cached_property
    def items(self) -> pd.DataFrame:
        """item_id (string), title ("Name (year)"), genres (list of genre names)."""
        return _items_frame(self.world)

    def write_csv(self, directory: str | Path, chunk_rows: int = 1_000_000) -> tuple[Path, Path]:
        """Write ``ratings_synthetic.csv`` and ``items_synthetic.csv``; ratings are streamed."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ratings_path = _write_ratings(self.world, directory / RATINGS_FILE, chunk_rows)
        items_path = write_items_frame(self.items, directory / ITEMS_FILE)
        return ratings_path, items_path


# --- Public API ----------------------------------------------------------------------------------


def generate(
    n_interactions: int,
    n_raters: int | None = None,
    n_items: int | None = None,
    seed: int = 42,
    config: SyntheticConfig | None = None,
) -> SyntheticData:
    """Build a world of the given size; rater and item counts default to MovieLens ratios."""
    config = config or SyntheticConfig()
    n_raters, n_items, minimum = _resolve_sizes(n_interactions, n_raters, n_items, config)
    return SyntheticData(_build_world(n_interactions, n_raters, n_items, minimum, seed, config))


def write_ratings_csv(
    path: str | Path,
    n_interactions: int,
    n_raters: int | None = None,
    n_items: int | None = None,
    seed: int = 42,
    chunk_rows: int = 1_000_000,
    config: SyntheticConfig | None = None,
) -> Path:
    """Stream a ratings CSV (user_id,item_id,rating,timestamp) holding one chunk at a time."""
    data = generate(n_interactions, n_raters, n_items, seed, config)
    return _write_ratings(data.world, Path(path), chunk_rows)


def write_items_frame(items: pd.DataFrame, path: str | Path) -> Path:
    """Write an items frame as CSV: item_id,title,genres with genres joined by ``|``."""
    out = items.assign(genres=items["genres"].map("|".join))
    out.to_csv(path, index=False, columns=["item_id", "title", "genres"])
    return Path(path)


def default_sizes(n_interactions: int) -> tuple[int, int]:
    """MovieLens-like (raters, items) for a number of interactions (log-log interpolation)."""
    x = math.log(max(n_interactions, 1))
    xs = [math.log(size[0]) for size in _MOVIELENS_SIZES]
    raters = _loglog(x, xs, [math.log(size[1]) for size in _MOVIELENS_SIZES])
    items = _loglog(x, xs, [math.log(size[2]) for size in _MOVIELENS_SIZES])
    return max(1, round(raters)), max(1, round(items))


def _loglog(x: float, xs: list[float], ys: list[float]) -> float:
    # Piecewise linear in log-log space; the end segments extend beyond the anchors.
    segment = min(max(int(np.searchsorted(xs, x)) - 1, 0), len(xs) - 2)
    slope = (ys[segment + 1] - ys[segment]) / (xs[segment + 1] - xs[segment])
    return math.exp(ys[segment] + slope * (x - xs[segment]))


def _resolve_sizes(
    n: int, n_raters: int | None, n_items: int | None, config: SyntheticConfig
) -> tuple[int, int, int]:
    if n < 1:
        raise ValueError("n_interactions must be at least 1")
    default_raters, default_items = default_sizes(n)
    if n_raters is None:
        n_raters = min(default_raters, max(1, n // (2 * config.min_per_rater)))
    n_items = n_items if n_items is not None else default_items
    if not 1 <= n_raters <= n or n_items < 1:
        raise ValueError(f"need 1 <= n_raters <= n_interactions and n_items >= 1 (n={n:,})")
    return n_raters, n_items, min(config.min_per_rater, n // n_raters)


# --- Building the world --------------------------------------------------------------------------


def _build_world(
    n: int, n_raters: int, n_items: int, minimum: int, seed: int, config: SyntheticConfig
) -> _World:
    genre_axes = _genre_axes(config.factors, np.random.default_rng([seed, _STREAM_ITEMS]))
    items_rng = np.random.default_rng([seed, _STREAM_ITEMS, 1])
    raters_rng = np.random.default_rng([seed, _STREAM_RATERS])
    item_factors, item_genres = _items(n_items, genre_axes, config, items_rng)
    popularity = _popularity(n_items, config, items_rng)
    alias_prob, alias_index = _alias_table(popularity)
    world = _World(
        seed=seed,
        config=config,
        minimum=minimum,
        counts=_activity(n, n_raters, minimum, _activity_cap(n, n_raters, n_items, config),
                         config.activity_sigma, raters_rng),
        rater_factors=_raters(n_raters, genre_axes, raters_rng),
        rater_bias=(raters_rng.normal(0.0, config.rater_bias_std, n_raters)).astype(np.float32),
        item_factors=item_factors,
        item_bias=_item_quality(popularity, config, items_rng),
        item_genres=item_genres,
        alias_prob=alias_prob,
        alias_index=alias_index,
        thresholds=np.zeros(4),
    )  # fmt: skip
    return replace(world, thresholds=_calibrate(world))


def _genre_axes(k: int, rng: np.random.Generator) -> np.ndarray:
    axes = rng.normal(size=(len(GENRES), k))
    return (axes / np.linalg.norm(axes, axis=1, keepdims=True)).astype(np.float32)


def _top_m(logits: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row, a boolean mask of ``m[row]`` columns drawn without replacement ∝ exp(logits)."""
    keys = logits + rng.gumbel(size=logits.shape)
    order = np.argsort(-keys, axis=1)
    mask = np.zeros(logits.shape, dtype=bool)
    ranks = np.arange(logits.shape[1])[None, :] < m[:, None]
    np.put_along_axis(mask, order, ranks, axis=1)
    return mask


def _genre_counts(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(np.arange(1, len(_GENRES_PER_ITEM) + 1), size=n, p=_GENRES_PER_ITEM)


def _items(
    n_items: int, axes: np.ndarray, config: SyntheticConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors and genres: genres follow the raw vector, the final vector its genres."""
    k = axes.shape[1]
    raw = rng.normal(size=(n_items, k))
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    prior = np.log(np.asarray(_GENRE_COUNTS, dtype=float))
    genres = _top_m(prior + 3.0 * raw @ axes.T, _genre_counts(n_items, rng), rng)
    centre = genres @ axes / genres.sum(axis=1, keepdims=True)
    centre /= np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-6)
    pull = config.genre_pull
    factors = pull * centre + math.sqrt(1.0 - pull**2) * raw
    return factors.astype(np.float32), genres


def _raters(n_raters: int, axes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rater vectors lean towards 1–3 favourite genres, picked by genre prevalence."""
    k = axes.shape[1]
    prior = np.log(np.asarray(_GENRE_COUNTS, dtype=float))
    favourites = _top_m(np.broadcast_to(prior, (n_raters, len(GENRES))),
                        rng.integers(1, 4, n_raters), rng)  # fmt: skip
    lean = favourites @ axes / favourites.sum(axis=1, keepdims=True)
    noise = rng.normal(0.0, 0.5 / math.sqrt(k), size=(n_raters, k))
    return (lean + noise).astype(np.float32)


def _popularity(n_items: int, config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Zipf by rank with a flattened head and an exponential tail (fits ML-100K's curve)."""
    rank = rng.permutation(n_items)  # item index -> popularity rank, so ids carry no order
    zipf = (rank + 1.0 + config.popularity_offset) ** -config.popularity_exponent
    weights = zipf * np.exp(-config.popularity_cutoff * rank / n_items)
    return weights / weights.sum()


def _item_quality(
    popularity: np.ndarray, config: SyntheticConfig, rng: np.random.Generator
) -> np.ndarray:
    log_pop = np.log(popularity)
    z_pop = (log_pop - log_pop.mean()) / (log_pop.std() or 1.0)
    corr = config.quality_popularity_corr
    z = corr * z_pop + math.sqrt(1.0 - corr**2) * rng.normal(size=len(popularity))
    return (config.item_bias_std * z).astype(np.float32)


def _alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table: O(1) draws from a discrete distribution."""
    n = len(weights)
    prob = (weights * n / weights.sum()).tolist()
    alias = list(range(n))
    small = [i for i, p in enumerate(prob) if p < 1.0]
    large = [i for i, p in enumerate(prob) if p >= 1.0]
    while small and large:
        low, high = small.pop(), large.pop()
        alias[low] = high
        prob[high] -= 1.0 - prob[low]
        (small if prob[high] < 1.0 else large).append(high)
    for leftover in small + large:  # exactly 1 up to rounding
        prob[leftover] = 1.0
    return np.asarray(prob, dtype=np.float32), np.asarray(alias, dtype=np.int32)


def _activity_cap(n: int, n_raters: int, n_items: int, config: SyntheticConfig) -> int:
    cap = int(config.max_share_of_items * n_items)
    return max(cap, math.ceil(n / n_raters))


def _activity(
    n: int, n_raters: int, minimum: int, cap: int, sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Log-normal activity with a floor and a cap, summing exactly to ``n``."""
    weights = rng.lognormal(0.0, sigma, n_raters)
    counts = np.full(n_raters, minimum, dtype=np.int64)
    remaining = n - int(counts.sum())
    while remaining > 0:
        counts += _allocate(remaining, weights * (counts < cap))
        over = np.maximum(counts - cap, 0)
        counts -= over
        remaining = int(over.sum())
    return counts


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainders)."""
    share = total * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        counts[np.argsort(counts - share, kind="stable")[:short]] += 1
    return counts


def _calibrate(world: _World) -> np.ndarray:
    """Latent cut points that give RATING_SHARES on a sample of raters drawn like the rest."""
    rng = np.random.default_rng([world.seed, _STREAM_CALIBRATION])
    shuffled = rng.permutation(world.n_raters)
    enough = int(np.searchsorted(np.cumsum(world.counts[shuffled]), _CALIBRATION_ROWS)) + 1
    sample = np.sort(shuffled[:enough])
    _, _, latent = _draw_choices(world, sample, world.counts[sample], rng)
    return np.quantile(latent, np.cumsum(RATING_SHARES)[:-1])


# --- Drawing interactions ------------------------------------------------------------------------


def _blocks(counts: np.ndarray) -> list[tuple[int, int]]:
    """Runs of whole raters holding about ``_BLOCK_ROWS`` rows each."""
    first_row = np.cumsum(counts) - counts
    block_of = first_row // _BLOCK_ROWS
    starts = np.flatnonzero(np.diff(block_of, prepend=-1))
    ends = np.append(starts[1:], len(counts))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _iter_blocks(world: _World) -> Iterator[_Block]:
    for lo, hi in _blocks(world.counts):
        yield _draw_block(world, lo, hi)


def _draw_block(world: _World, lo: int, hi: int) -> _Block:
    rng = np.random.default_rng([world.seed, _STREAM_BLOCK, lo])
    counts = world.counts[lo:hi]
    raters, items, latent = _draw_choices(world, np.arange(lo, hi), counts, rng)
    ratings = (np.searchsorted(world.thresholds, latent) + 1).astype(np.int8)
    timestamps = _timestamps(counts, world.config, rng)
    return _Block(raters, items, ratings, timestamps)


def _draw_choices(
    world: _World, rater_ids: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The items ``counts[i]`` interactions of each rater go to, and their latent ratings."""
    raters = np.repeat(rater_ids.astype(np.int32), counts)
    local = np.repeat(np.arange(len(rater_ids), dtype=np.int32), counts)
    items = np.empty(len(raters), dtype=np.int32)
    affinity = np.empty(len(raters), dtype=np.float32)
    # Runs of raters small enough for one rater × item table of _TABLE_CELLS cells.
    per_run = max(1, _TABLE_CELLS // world.n_items)
    for start, stop in _runs(local // per_run):
        run = slice(start, stop)
        run_local = local[run] - local[start]
        affinity_of = _affinity_lookup(world, rater_ids[local[start] : local[stop - 1] + 1])
        items[run], affinity[run] = _choose_items(world, affinity_of, run_local, rng)
        _redraw_duplicates(world, affinity_of, run_local, items[run], affinity[run], rng)
    return raters, items, _latent_rating(world, raters, items, affinity, rng)


_AffinityOf = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _affinity_lookup(world: _World, rater_ids: np.ndarray) -> _AffinityOf:
    """``f(local, items)``: affinity u·v of the ``local``-th of ``rater_ids`` to ``items``."""
    factors = world.rater_factors[rater_ids]
    if world.n_items > _TABLE_CELLS // 16:  # huge catalogue: a table per rater costs too much
        return lambda local, items: np.einsum(
            "...k,...k->...", world.item_factors[items], factors[local]
        )
    table = (factors @ world.item_factors.T).ravel()
    return lambda local, items: table[local.astype(np.int64) * world.n_items + items]


def _runs(groups: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of equal values in an ascending array."""
    starts = np.flatnonzero(np.diff(groups, prepend=groups[:1] - 1))
    stops = np.append(starts[1:], len(groups))
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _popular(world: _World, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    # One uniform per draw: its integer part picks the column, its fraction tosses the coin.
    scaled = rng.random(size) * world.n_items
    column = np.minimum(scaled.astype(np.int32), world.n_items - 1)
    keep = scaled - column < world.alias_prob[column]
    return np.where(keep, column, world.alias_index[column])


def _choose_items(
    world: _World,
    affinity_of: _AffinityOf,
    local: np.ndarray,
    rng: np.random.Generator,
    *,
    anywhere: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per interaction, draw candidate items and let the rater pick one by taste (softmax).

    Args:
        local: the rater of each interaction, as an index into ``affinity_of``'s raters.
        anywhere: draw the candidates uniformly instead of by popularity.

    Returns:
        The picked item of each interaction (int32) and the rater's affinity to it (float32).
    """
    config = world.config
    size = (config.candidates, len(local))
    if anywhere:
        candidates = rng.integers(0, world.n_items, size=size, dtype=np.int32)
    else:
        candidates = _popular(world, size, rng)
    affinity = affinity_of(local[None, :], candidates)
    weights = np.exp(config.choice_sharpness * (affinity - affinity.max(axis=0)))
    target = rng.random(len(local), dtype=np.float32) * weights.sum(axis=0)
    pick = np.zeros(len(local), dtype=np.intp)
    running = np.zeros(len(local), dtype=np.float32)
    for column in weights[:-1]:  # inverse CDF over the few candidates
        running += column
        pick += running < target
    rows = np.arange(len(local))
    return candidates[pick, rows], affinity[pick, rows]


def _redraw_duplicates(
    world: _World,
    affinity_of: _AffinityOf,
    local: np.ndarray,
    items: np.ndarray,
    affinity: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Draw again (in place) the items a rater already has; a few repeats survive, as in logs."""
    keys = local.astype(np.int64) * world.n_items + items
    owner = np.zeros((int(local[-1]) + 1) * world.n_items, dtype=np.int32)
    position = np.arange(1, len(keys) + 1, dtype=np.int32)
    owner[keys] = position  # of rows sharing a rater × item cell, exactly one owns it
    todo = np.flatnonzero(owner[keys] != position)
    for round_ in range(_DEDUP_ROUNDS):
        if not len(todo):
            return
        # Heavy raters exhaust the popular items they like: later rounds look beyond them.
        anywhere = round_ >= _DEDUP_ROUNDS // 2
        fresh, fresh_affinity = _choose_items(
            world, affinity_of, local[todo], rng, anywhere=anywhere
        )
        fresh_keys = local[todo].astype(np.int64) * world.n_items + fresh
        free = owner[fresh_keys] == 0
        owner[fresh_keys[free]] = position[todo[free]]
        won = free & (owner[fresh_keys] == position[todo])
        items[todo[won]] = fresh[won]
        affinity[todo[won]] = fresh_affinity[won]
        todo = todo[~won]


def _latent_rating(
    world: _World,
    raters: np.ndarray,
    items: np.ndarray,
    affinity: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    config = world.config
    noise = rng.standard_normal(len(raters), dtype=np.float32)
    return (
        world.rater_bias[raters] + world.item_bias[items]
        + config.taste_weight * affinity + config.noise_std * noise
    )  # fmt: skip


def _timestamps(
    counts: np.ndarray, config: SyntheticConfig, rng: np.random.Generator
) -> np.ndarray:
    """Per rater: sessions seconds apart inside, days apart between, placed in the time window."""
    rows = int(counts.sum())
    first = np.cumsum(counts) - counts
    new_session = rng.random(rows) < 1.0 / config.session_length
    between = rng.lognormal(math.log(config.between_session_gap_days * 86_400), 1.2, rows)
    within = rng.exponential(config.within_session_gap_s, rows)
    gaps = np.where(new_session, between, within)
    gaps[first] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first], counts)
    span = config.span_days * 86_400.0
    lifetime = elapsed[first + counts - 1]
    squeeze = np.minimum(1.0, span / np.maximum(lifetime, 1.0))  # long-lived raters fit the window
    start = config.start + rng.random(len(counts)) * np.maximum(span - lifetime, 0.0)
    return (np.repeat(start, counts) + elapsed * np.repeat(squeeze, counts)).astype(np.int64)


# --- Frames and files ----------------------------------------------------------------------------


def _concat(blocks: list[_Block]) -> _Block:
    return _Block(
        *(
            np.concatenate([getattr(b, name) for b in blocks])
            for name in _Block.__dataclass_fields__
        )
    )


def _ratings_frame(block: _Block) -> pd.DataFrame:
    table = _ratings_table(block)
    for name in ("user_id", "item_id"):  # Arrow's cast is several times faster than NumPy's
        column = table.schema.get_field_index(name)
        table = table.set_column(column, name, table[name].cast(pa.string()))
    return table.to_pandas()


def _ratings_table(block: _Block) -> pa.Table:
    return pa.table(
        {
            "user_id": block.rater + 1,
            "item_id": block.item + 1,
            "rating": block.rating,
            "timestamp": block.timestamp,
        }
    )


def _iter_chunks(world: _World, chunk_rows: int) -> Iterator[_Block]:
    pending: list[_Block] = []
    rows = 0
    for block in _iter_blocks(world):
        pending.append(block)
        rows += len(block.rater)
        if rows >= chunk_rows:
            yield _concat(pending)
            pending, rows = [], 0
    if pending:
        yield _concat(pending)


def _write_ratings(world: _World, path: Path, chunk_rows: int) -> Path:
    """Stream the ratings to ``path`` (written beside it, then renamed: never half a file)."""
    partial = path.with_name(path.name + ".partial")
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with partial.open("wb") as handle:
        handle.write((",".join(RATING_COLUMNS) + "\n").encode())
        for chunk in _iter_chunks(world, chunk_rows):
            pacsv.write_csv(_ratings_table(chunk), handle, options)
    partial.replace(path)
    return path


# --- Titles --------------------------------------------------------------------------------------

_ADJECTIVES = (
    "Silent", "Crimson", "Broken", "Hidden", "Golden", "Lost", "Dark", "Wild", "Burning",
    "Frozen", "Electric", "Hollow", "Distant", "Savage", "Midnight", "Quiet", "Secret", "Restless",
    "Endless", "Bitter", "Velvet", "Iron", "Glass", "Scarlet", "Lonely", "Final", "Fallen",
    "Sudden", "Eternal", "Black", "Blue", "Brave", "Little", "Strange", "Forgotten", "Shattered",
    "Sweet", "Deadly", "Perfect", "Wicked", "Crooked", "Painted", "Northern", "Silver", "Twisted",
    "Reckless", "Gentle", "Empty", "Violent", "Tender",
)  # fmt: skip
_NOUNS = (
    "Harbor", "River", "Kingdom", "Summer", "Winter", "Garden", "Highway", "Witness", "Stranger",
    "Shadow", "Horizon", "Promise", "Heart", "Mirror", "Island", "Empire", "Storm", "Station",
    "Bridge", "Dream", "Frontier", "Letter", "Game", "Hunter", "Legend", "Machine", "Voyage",
    "Season", "Affair", "Signal", "Valley", "Castle", "Circus", "Journey", "Mission", "Planet",
    "Song", "Ghost", "Angel", "Prophet", "Outlaw", "Tide", "Fire", "Night", "City", "Road",
    "Window", "Crown", "Orchard", "Lighthouse",
)  # fmt: skip
_GENRE_NOUNS = {
    "Action": ("Strike", "Vendetta", "Fury", "Payback", "Showdown"),
    "Adventure": ("Treasure", "Expedition", "Jungle", "Quest", "Voyage"),
    "Animation": ("Dragon", "Toy", "Moon", "Rabbit", "Balloon"),
    "Children's": ("Puppy", "Treehouse", "Wizard", "Pony", "Birthday"),
    "Comedy": ("Trouble", "Wedding", "Vacation", "Roommate", "Mix-Up"),
    "Crime": ("Heist", "Alibi", "Verdict", "Racket", "Getaway"),
    "Documentary": ("Story", "Truth", "Year", "Record", "Life"),
    "Drama": ("Family", "Silence", "Return", "Inheritance", "Confession"),
    "Fantasy": ("Sorcerer", "Realm", "Unicorn", "Spell", "Throne"),
    "Film-Noir": ("Double-Cross", "Dame", "Alley", "Setup", "Rain"),
    "Horror": ("Curse", "Haunting", "Blood", "Nightmare", "Crypt"),
    "Musical": ("Melody", "Rhythm", "Dance", "Serenade", "Showboat"),
    "Mystery": ("Riddle", "Clue", "Disappearance", "Manor", "Cipher"),
    "Romance": ("Love", "Kiss", "Valentine", "Heartbeat", "Rendezvous"),
    "Sci-Fi": ("Galaxy", "Android", "Orbit", "Colony", "Starship"),
    "Thriller": ("Conspiracy", "Target", "Hostage", "Deadline", "Pursuit"),
    "War": ("Battalion", "Front", "Siege", "Convoy", "Trenches"),
    "Western": ("Gunfighter", "Ranch", "Sheriff", "Canyon", "Stagecoach"),
}
_PLACES = (
    "Paris", "Brooklyn", "Tangier", "Memphis", "Kyoto", "Havana", "Vienna", "Alaska", "Texas",
    "Mars", "Venice", "Nowhere", "Eden", "Shanghai", "Dublin", "Berlin", "Tombstone", "Avalon",
    "the North", "the Sea", "Tomorrow", "Monte Carlo",
)  # fmt: skip
_NAMES = (
    "Harry", "Annie", "Marlowe", "Charlie", "Rosa", "Jack", "Billy", "Lola", "Max", "Clara",
    "Frankie", "Sam", "Nina", "Leo", "Ruby", "Walter", "Grace", "Oscar", "Vera", "Hugo",
)  # fmt: skip
_PATTERNS = (
    "The {adj} {noun}", "{adj} {noun}", "{noun} of the {noun2}", "The {noun} of {place}",
    "{name}'s {noun}", "Return to {place}", "{noun} in {place}", "The Last {noun}",
    "A {noun} for {name}", "{adj} {noun}s", "{name} and {name2}", "Escape from {place}",
    "The {adj} {noun} II", "{noun}",
)  # fmt: skip


def _title(words: np.ndarray, genre: str, year: int) -> str:
    own = _GENRE_NOUNS[genre]
    nouns = (own[words[1] % len(own)], _NOUNS[words[2] % len(_NOUNS)])
    noun = nouns[words[0] % 2]
    name = _PATTERNS[words[3] % len(_PATTERNS)].format(
        adj=_ADJECTIVES[words[4] % len(_ADJECTIVES)],
        noun=noun,
        noun2=nouns[1] if noun != nouns[1] else _NOUNS[words[5] % len(_NOUNS)],
        place=_PLACES[words[5] % len(_PLACES)],
        name=_NAMES[words[6] % len(_NAMES)],
        name2=_NAMES[(words[6] + 1 + words[7] % 19) % len(_NAMES)],
    )
    return f"{name} ({year})"


def _items_frame(world: _World) -> pd.DataFrame:
    rng = np.random.default_rng([world.seed, _STREAM_TITLES])
    n = world.n_items
    last_year = pd.Timestamp(world.config.start, unit="s").year
    years = np.clip(last_year - np.floor(rng.lognormal(2.0, 1.0, n)), 1915, last_year)
    words = rng.integers(0, 1 << 30, size=(n, 8))
    genres = [[GENRES[g] for g in np.flatnonzero(row)] for row in world.item_genres]
    first_genre = rng.integers(0, 1 << 30, size=n)
    titles = [
        _title(words[i], names[first_genre[i] % len(names)], int(years[i]))
        for i, names in enumerate(genres)
    ]
    return pd.DataFrame(
        {"item_id": (np.arange(n) + 1).astype(str), "title": titles, "genres": genres}
    )
