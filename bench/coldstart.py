"""Cold-start bench on MovieLens 100K: the new-items and new-raters protocols of EVALUATION.md.

Usage::

    .venv/bin/python bench/coldstart.py /path/to/ml-100k [--threads 1] [--inner]
        [--text-cnn JSON] [--side-features JSON] [--lightgcn JSON] [--only new-items|new-raters]

New items: 10% of the 1,682 items held out (``default_rng(42).permutation(sorted ids)[:168]``),
candidates = the held-out items, users = everyone who interacted with one (924). Rows: the
expected value of a random ranking, popularity (all held-out items score 0, so its ties are
broken at random: it carries no information), the genre-profile cosine, text_cnn and
side_features (genres and decade; no text). LightGCN has no content and is not meaningful here.

New raters: 10% of raters held out (94); for 0, 1, 3 and 5 revealed earliest interactions, the
rest after the fifth is ranked over every training item. Rows: popularity, genre profile,
side_features (attributes from ``u.user``), lightgcn (history fold-in; with nothing revealed it
has no signal).

``--inner`` runs the same tables on inner splits that never touch the test items or raters:
10% of the *training* items (seed 7) for new items, 20% of the *training* raters (seed 7) for
new raters. Hyper-parameters were chosen there; the JSON options override a model's defaults.
Times are wall-clock seconds of one ``fit``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.algorithms import get_algorithm  # noqa: E402
from recommender.algorithms.base import TrainOptions  # noqa: E402
from recommender.data import Interactions, interactions_from_frame  # noqa: E402
from recommender.evaluation import coldstart, metrics  # noqa: E402

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def read_ratings(path: Path) -> pd.DataFrame:
    """``u.data`` as a ratings frame in file order."""
    return pd.read_csv(
        path,
        sep="\t",
        names=["user_id", "item_id", "value", "timestamp"],
        dtype={"user_id": str, "item_id": str, "value": np.float64, "timestamp": np.int64},
    )


def read_items(path: Path) -> pd.DataFrame:
    """``u.item`` (Latin-1) as ``title`` and ``genres`` (list of names), indexed by item id."""
    raw = pd.read_csv(path, sep="|", header=None, encoding="latin-1", dtype={0: str})
    flags = raw.iloc[:, -len(GENRES) :].to_numpy()
    genres = [[GENRES[j] for j in np.flatnonzero(row)] for row in flags]
    index = pd.Index(raw[0], name="item_id")
    return pd.DataFrame({"title": raw[1].fillna("").to_numpy(), "genres": genres}, index=index)


def read_users(path: Path) -> pd.DataFrame:
    """``u.user`` as ``age``, ``gender``, ``occupation``, ``zip``, indexed by rater id."""
    names = ["user_id", "age", "gender", "occupation", "zip"]
    frame = pd.read_csv(path, sep="|", names=names, dtype={"user_id": str, "zip": str})
    return frame.set_index("user_id")


def fit(name: str, overrides: dict[str, Any], train: Interactions, threads: int) -> tuple:
    model_class = get_algorithm(name)
    model = model_class(model_class.config_class.from_dict(overrides))
    started = time.perf_counter()
    model.fit(train, TrainOptions(seed=42, threads=threads))
    return model, time.perf_counter() - started


def load_line() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- new items ----------------------------------------------------------------------------------


def new_items_split(ratings: pd.DataFrame, items: pd.DataFrame, inner: bool):
    split = coldstart.new_items_split(ratings, items, fraction=0.1, seed=42)
    if inner:
        warm = items[items.index.isin(split.train["item_id"].unique())]
        split = coldstart.new_items_split(split.train, warm, fraction=0.1, seed=7)
    return split


def run_new_items(data: dict[str, pd.DataFrame], args: argparse.Namespace) -> None:
    split = new_items_split(data["ratings"], data["items"], args.inner)
    train = coldstart.new_items_interactions(split)
    users, targets, candidates = coldstart.new_items_targets(train, split)
    label = "inner" if args.inner else "test"
    print(
        f"New items ({label}): {len(candidates)} held-out candidates, {len(users)} users, "
        f"{len(split.train):,} training rows"
    )
    expected = coldstart.expected_random(targets, len(candidates))
    print(f"{'model':<20}{'NDCG@10':>9}{'HR@10':>8}{'P@10':>8}{'MRR@10':>8}{'fit s':>8}")
    print(
        f"{'random (expected)':<20}{expected['ndcg_at_10']:>9.4f}{expected['hit_rate_at_10']:>8.4f}"
    )
    scorers: list[tuple[str, Any, float]] = []
    popularity, seconds = fit("popularity", {}, train, args.threads)
    scorers.append(("popularity", popularity, seconds))
    scorers.append(("genre profile", coldstart.GenreProfile(train, data["items"]), 0.0))
    for name in ("text_cnn", "side_features"):
        scorers.append((name, *fit(name, args.configs[name], train, args.threads)))
    ndcg = {}
    for name, scorer, seconds in scorers:
        lists = coldstart.rank_new_items(scorer, train, split)
        figures = metrics.ranking_metrics(lists.top_k, lists.targets, 10)
        ndcg[name] = figures["ndcg"]
        cells = "".join(
            f"{figures[key].mean():>{width}.4f}"
            for key, width in (("ndcg", 9), ("hit_rate", 8), ("precision", 8), ("mrr", 8))
        )
        print(f"{name:<20}{cells}{seconds:>8.1f}")
    for name in ("text_cnn", "side_features"):
        mean, error = coldstart.paired_difference(ndcg[name], ndcg["genre profile"])
        print(f"paired NDCG@10 {name} - genre profile: {mean:+.4f} ± {error:.4f} (1 s.e.)")
    print(load_line(), "\n")


# --- new raters ---------------------------------------------------------------------------------


def run_new_raters(data: dict[str, pd.DataFrame], args: argparse.Namespace) -> None:
    split = coldstart.new_raters_split(data["ratings"], fraction=0.1, seed=42)
    if args.inner:
        split = coldstart.new_raters_split(split.train, fraction=0.2, seed=7)
    train = replace(
        interactions_from_frame(split.train),
        user_features=data["users"],
        item_features=data["items"],
    )
    label = "inner" if args.inner else "test"
    print(
        f"New raters ({label}): {len(split.raters)} held-out raters, ranked over "
        f"{train.n_items} training items; NDCG@10 / HR@10 by revealed interactions"
    )
    scorers: list[tuple[str, Any, float]] = []
    popularity, seconds = fit("popularity", {}, train, args.threads)
    scorers.append(("popularity", popularity, seconds))
    scorers.append(("genre profile", coldstart.GenreProfile(train, data["items"]), 0.0))
    for name in ("side_features", "lightgcn"):
        scorers.append((name, *fit(name, args.configs[name], train, args.threads)))
    header = "".join(f"{f'{k} revealed':>17}" for k in split.reveal)
    print(f"{'model':<16}{header}{'fit s':>8}")
    ndcg = {}
    for name, scorer, seconds in scorers:
        ranked = coldstart.rank_new_raters(scorer, train, split, data["users"])
        figures = {k: metrics.ranking_metrics(r.top_k, r.targets, 10) for k, r in ranked.items()}
        ndcg[name] = {k: f["ndcg"] for k, f in figures.items()}
        cells = "".join(
            f"{figures[k]['ndcg'].mean():>10.4f} /{figures[k]['hit_rate'].mean():>5.3f}"
            for k in split.reveal
        )
        print(f"{name:<16}{cells}{seconds:>8.1f}")
    for name in ("side_features", "lightgcn"):
        cells = []
        for k in split.reveal:
            mean, error = coldstart.paired_difference(ndcg[name][k], ndcg["popularity"][k])
            cells.append(f"{k}: {mean:+.4f} ± {error:.4f}")
        print(f"paired NDCG@10 {name} - popularity: " + ", ".join(cells))
    print(load_line(), "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with u.data, u.item, u.user")
    parser.add_argument("--inner", action="store_true", help="inner splits (for tuning)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--only", choices=["new-items", "new-raters"], default=None)
    for name in ("text_cnn", "side_features", "lightgcn"):
        parser.add_argument(f"--{name.replace('_', '-')}", default="{}", help="config JSON")
    args = parser.parse_args(argv)
    args.configs = {
        name: json.loads(getattr(args, name)) for name in ("text_cnn", "side_features", "lightgcn")
    }
    logging.basicConfig(level=logging.WARNING)
    data = {
        "ratings": read_ratings(args.data_dir / "u.data"),
        "items": read_items(args.data_dir / "u.item"),
        "users": read_users(args.data_dir / "u.user"),
    }
    if args.only in (None, "new-items"):
        run_new_items(data, args)
    if args.only in (None, "new-raters"):
        run_new_raters(data, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
