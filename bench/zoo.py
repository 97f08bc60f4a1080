"""The deep-model zoo on MovieLens 100K in one table: every figure the zoo is held to.

Usage::

    .venv/bin/python bench/zoo.py /path/to/ml-100k [--threads 1] [--skip p3]

Rows (NDCG@10 and HR@10, with the reference each is compared with, from EVALUATION.md):

- P1 (random per-user split): LightGCN against popularity (RecBole LightGCN: 0.409 in 100 s).
- P3 (temporal leave-last-out, full ranking): GRU4Rec and SASRec against popularity (RecBole
  within a 10-minute one-thread budget: GRU4Rec 0.092, SASRec 0.086).
- New items (10% of items held out, ranked from content alone): text_cnn against popularity
  and the genre-profile cosine (0.144).
- New raters with nothing revealed (10% of raters held out, attributes only): side_features
  against popularity.

Every registered model goes through :func:`recommender.pipeline.run_protocol`, the code path of
training runs and ``manage.py evaluate``, with its default hyper-parameters; "train s" is the
wall-clock ``fit`` with ``--threads`` torch threads (default 1, as the peers were timed). The
per-protocol benches (``quality.py``, ``sequence.py``, ``coldstart.py``) print more detail.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# The script runs as ``python bench/zoo.py``: put the project root and bench/ on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from coldstart import read_items, read_ratings, read_users  # noqa: E402

from recommender.algorithms.base import TrainOptions  # noqa: E402
from recommender.data import interactions_from_frame  # noqa: E402
from recommender.evaluation import coldstart, metrics  # noqa: E402
from recommender.pipeline import run_protocol  # noqa: E402

PROTOCOL_ROWS = {
    "p1": (("popularity", "popularity 0.250"), ("lightgcn", "RecBole LightGCN 0.409 (100 s)")),
    "p3": (
        ("popularity", "popularity 0.045"),
        ("gru4rec", "RecBole GRU4Rec 0.092 (595 s)"),
        ("sasrec", "RecBole SASRec 0.086 (599 s)"),
    ),
    "new-items": (("popularity", "random 0.070"), ("text_cnn", "genre profile 0.144")),
    "new-raters": (("popularity", ""), ("side_features", "beats popularity")),
}


@dataclass(frozen=True)
class Row:
    protocol: str
    model: str
    ndcg: float
    hit_rate: float
    train_seconds: float
    reference: str


def run_models(data: dict[str, pd.DataFrame], protocol: str, threads: int) -> list[Row]:
    """Each model of ``protocol`` through the product's pipeline."""
    prefix = "reveal0_" if protocol == "new-raters" else ""
    rows = []
    for name, reference in PROTOCOL_ROWS[protocol]:
        result = run_protocol(
            data["ratings"],
            name,
            protocol=protocol,
            options=TrainOptions(seed=42, threads=threads),
            item_features=data["items"],
            user_features=data["users"],
        )
        rows.append(
            Row(
                protocol,
                name,
                result.metrics[f"{prefix}ndcg_at_10"],
                result.metrics[f"{prefix}hit_rate_at_10"],
                result.fit_seconds,
                reference,
            )
        )
    return rows


def genre_profile_row(data: dict[str, pd.DataFrame]) -> Row:
    """The content-free reference of the new-items protocol (not a registered model)."""
    split = coldstart.new_items_split(data["ratings"], data["items"], fraction=0.1, seed=42)
    train = coldstart.new_items_interactions(split)
    lists = coldstart.rank_new_items(coldstart.GenreProfile(train, data["items"]), train, split)
    figures = metrics.ranking_metrics(lists.top_k, lists.targets, 10)
    return Row(
        "new-items",
        "genre profile",
        float(figures["ndcg"].mean()),
        float(figures["hit_rate"].mean()),
        0.0,
        "EVALUATION.md 0.144",
    )


def print_table(rows: list[Row]) -> None:
    print(f"{'protocol':<12}{'model':<16}{'NDCG@10':>9}{'HR@10':>8}{'train s':>9}  reference")
    for row in rows:
        print(
            f"{row.protocol:<12}{row.model:<16}{row.ndcg:>9.4f}{row.hit_rate:>8.4f}"
            f"{row.train_seconds:>9.1f}  {row.reference}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with u.data, u.item, u.user")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every fit")
    parser.add_argument("--skip", default="", help="protocols to leave out, comma-separated")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    data = {
        "ratings": read_ratings(args.data_dir / "u.data"),
        "items": read_items(args.data_dir / "u.item"),
        "users": read_users(args.data_dir / "u.user"),
    }
    interactions_from_frame(data["ratings"])  # fail early on a malformed file
    skipped = {name.strip() for name in args.skip.split(",") if name.strip()}
    rows: list[Row] = []
    for protocol in PROTOCOL_ROWS:
        if protocol in skipped:
            continue
        rows += run_models(data, protocol, args.threads)
        if protocol == "new-items":
            rows.append(genre_profile_row(data))
        print_table(rows)  # a partial table after every protocol, in case of interruption
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
