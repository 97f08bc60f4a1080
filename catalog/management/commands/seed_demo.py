"""Load a small generated demo catalog through the same import path as uploads and the CLI."""

from __future__ import annotations

import tempfile
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from catalog import synthetic

INTERACTIONS_PER_RATER = 40  # the demo's density: 20,000 ratings -> 500 raters, 400 items
INTERACTIONS_PER_ITEM = 50


class Command(BaseCommand):
    help = (
        "Generate a MovieLens-shaped demo catalog (items with titles and genres, raters, ratings) "
        "and import it with import_ratings. Running it again leaves the same rows."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interactions", type=int, default=20_000)
        parser.add_argument("--raters", type=int, default=None, help="default: interactions / 40")
        parser.add_argument("--items", type=int, default=None, help="default: interactions / 50")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args: Any, **options: Any) -> None:
        interactions = options["interactions"]
        raters = options["raters"] or max(1, interactions // INTERACTIONS_PER_RATER)
        items = options["items"] or max(1, interactions // INTERACTIONS_PER_ITEM)
        try:
            data = synthetic.generate(interactions, raters, items, seed=options["seed"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        with tempfile.TemporaryDirectory(prefix="recsite-demo-") as directory:
            ratings_path, items_path = data.write_csv(directory)
            # Items first, so the ratings land on titled items; both upsert, so a rerun is a no-op.
            call_command(
                "import_ratings", str(items_path), str(ratings_path),
                stdout=self.stdout, stderr=self.stderr,
            )  # fmt: skip
        self.stdout.write(self.style.SUCCESS(
            f"Demo catalog generated with seed {options['seed']}: {items:,} items, {raters:,} "
            f"raters, {interactions:,} ratings (repeated pairs collapse on import)."
        ))  # fmt: skip
