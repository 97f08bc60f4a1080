"""Import rating/interaction, item or rater files: the same service as the upload page and API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from catalog import services
from catalog.models import DataImport


class Command(BaseCommand):
    help = (
        "Import one or more files (CSV, TSV, Parquet, MovieLens layouts). By default the import "
        "runs in this process; --queue hands it to the Celery worker and waits for it."
    )
    # System checks import every URLconf and with it torch: seconds and ~250 MB a bulk load
    # does not need.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--kind", default="auto", choices=DataImport.Kind.values)
        parser.add_argument("--format", default="auto")
        parser.add_argument("--delimiter", default=None)
        parser.add_argument("--header", dest="has_header", action="store_true", default=None)
        parser.add_argument("--no-header", dest="has_header", action="store_false")
        parser.add_argument(
            "--map",
            default="",
            help="column mapping, e.g. rater=uid,item=sku,value=stars,timestamp=ts",
        )
        parser.add_argument("--skip-invalid", action="store_true")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--queue", action="store_true", help="run on the Celery worker")
        parser.add_argument("--timeout", type=float, default=3600.0)

    def handle(self, *args: Any, paths: list[Path], **options: Any) -> None:
        failed = 0
        for path in paths:
            data_import = self._import_one(path, options)
            self._report(data_import)
            failed += data_import.status != DataImport.Status.SUCCEEDED
        if failed:
            raise CommandError(f"{failed} of {len(paths)} imports failed")

    def _import_one(self, path: Path, options: dict[str, Any]) -> DataImport:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        read_options = {
            "format": options["format"],
            "delimiter": options["delimiter"],
            "has_header": options["has_header"],
            "column_map": _parse_map(options["map"]),
        }
        try:
            with path.open("rb") as handle:
                data_import = services.data_import_create(
                    file=File(handle, name=path.name),
                    original_name=path.name,
                    kind=options["kind"],
                    options=read_options,
                    skip_invalid=options["skip_invalid"],
                    dry_run=options["dry_run"],
                    start=options["queue"],
                )
        except services.ImportValidationError as exc:
            raise CommandError(exc.message) from exc
        if options["queue"]:
            return services.wait_for_import(data_import.pk, timeout=options["timeout"])
        DataImport.objects.filter(pk=data_import.pk).update(status=DataImport.Status.PENDING)
        services.data_import_run(import_id=data_import.pk)
        return DataImport.objects.get(pk=data_import.pk)

    def _report(self, data_import: DataImport) -> None:
        style = self.style.SUCCESS if data_import.status == "succeeded" else self.style.ERROR
        self.stdout.write(
            style(
                f"{data_import.original_name}: {data_import.status} — {data_import.message} "
                f"(read {data_import.rows_read:,}, imported {data_import.rows_imported:,}, "
                f"rejected {data_import.rows_rejected:,}, "
                f"duplicates {data_import.duplicates_collapsed:,}, "
                f"new raters {data_import.raters_created:,}, "
                f"new items {data_import.items_created:,})"
            )
        )
        for error in data_import.errors[:20]:
            where = f"line {error['line']}" + (
                f", column {error['column']}" if error["column"] else ""
            )
            self.stdout.write(f"  {where}: {error['message']}")
        if data_import.error_count > 20:
            self.stdout.write(f"  … {data_import.error_count - 20:,} more (see the import page)")


def _parse_map(text: str) -> dict[str, str] | None:
    if not text:
        return None
    mapping = {}
    for part in text.split(","):
        role, sep, column = part.partition("=")
        if not sep or not column:
            raise CommandError(f"--map: expected role=column, got {part!r}")
        mapping[role.strip()] = column.strip()
    return mapping
