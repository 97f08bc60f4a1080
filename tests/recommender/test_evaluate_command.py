"""``manage.py evaluate``: offline protocols on files, with item content and rater attributes."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from recommender.algorithms import ALGORITHMS

TOPICS = (("Space robots galaxy", "Sci-Fi", "F", 30), ("Love romance wedding", "Romance", "M", 60))
ITEMS_PER_TOPIC, RATERS_PER_TOPIC = 10, 20


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Two topics told apart by titles, genres and the raters' gender and age."""
    ratings, items, raters = ["user_id,item_id,rating,timestamp"], ["item_id,title,genres"], []
    raters.append("user_id,age,gender,occupation")
    for group, (title, genre, gender, age) in enumerate(TOPICS):
        for n in range(ITEMS_PER_TOPIC):
            items.append(f"{group}{n:02d},{title} {n},{genre}")
        for r in range(RATERS_PER_TOPIC):
            rater = f"u{group}{r:02d}"
            raters.append(f"{rater},{age + r % 5},{gender},student")
            ratings += [
                f"{rater},{group}{n:02d},5,{1_000_000 + 60 * (r * ITEMS_PER_TOPIC + n)}"
                for n in range(ITEMS_PER_TOPIC)
                if (n + r) % 4
            ]
    paths = {}
    for name, lines in (("ratings", ratings), ("items", items), ("raters", raters)):
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def evaluate(*args: str) -> dict:
    out = StringIO()
    call_command("evaluate", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def contract(algorithm: str) -> str:
    return json.dumps(getattr(ALGORITHMS[algorithm], "contract_config", {}))


def test_new_items_ranks_held_out_items_from_their_content(files):
    result = evaluate(
        "--ratings", str(files["ratings"]), "--items", str(files["items"]),
        "--protocol", "new-items", "--algorithm", "text_cnn", "--params", contract("text_cnn"),
    )  # fmt: skip

    assert result["protocol"] == "new-items"
    assert result["metrics"]["candidates"] == 2
    assert result["metrics"]["hit_rate_at_10"] == 1.0  # only 2 candidates: both are in any top 10
    # The content tells each rater which of the two held-out items is theirs.
    assert result["metrics"]["mrr_at_10"] == 1.0


def test_new_raters_reads_rater_attributes(files):
    result = evaluate(
        "--ratings", str(files["ratings"]), "--raters", str(files["raters"]),
        "--protocol", "new-raters", "--algorithm", "side_features",
        "--params", contract("side_features"),
    )  # fmt: skip

    metrics = result["metrics"]
    assert {"reveal0_ndcg_at_10", "reveal5_ndcg_at_10"} <= set(metrics)
    # With nothing revealed, gender and age alone put the rater's own topic (10 items) in the
    # top 10; popularity cannot tell the topics apart (recall 0.333 on this data).
    assert metrics["reveal0_recall_at_10"] == 1.0


def test_new_items_without_item_content_names_what_is_missing(files):
    with pytest.raises(CommandError, match="invalid item_features: the new-items protocol needs"):
        evaluate(
            "--ratings", str(files["ratings"]), "--protocol", "new-items",
            "--algorithm", "popularity",
        )  # fmt: skip


def test_a_bad_rater_file_is_refused_with_its_line_and_column(files, tmp_path):
    bad = tmp_path / "bad_raters.csv"
    bad.write_text("user_id,age,gender\nu1,31,F\nu2,old,M\n", encoding="utf-8")

    with pytest.raises(CommandError, match=r"bad_raters.csv: 1 invalid rows; first at line 3"):
        evaluate(
            "--ratings", str(files["ratings"]), "--raters", str(bad),
            "--protocol", "new-raters", "--algorithm", "popularity",
        )  # fmt: skip
