from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from catalog.models import DataImport

FORMAT_CHOICES = [
    ("auto", "Detect"),
    ("csv", "CSV"),
    ("tsv", "TSV"),
    ("parquet", "Parquet"),
    ("movielens-100k", "MovieLens 100K (u.data / u.item / u.user)"),
    ("movielens-1m", "MovieLens 1M (ratings.dat / movies.dat / users.dat)"),
    ("movielens-latest", "MovieLens latest (ratings.csv / movies.csv)"),
]
HEADER_CHOICES = [("", "Detect"), ("yes", "First row is a header"), ("no", "No header row")]


class ImportOptionsMixin(forms.Form):
    kind = forms.ChoiceField(choices=DataImport.Kind.choices, initial=DataImport.Kind.AUTO)
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="auto")
    delimiter = forms.CharField(
        required=False,
        max_length=3,
        help_text="Leave empty to detect (, ; tab | ::). Use \\t for tab.",
    )
    has_header = forms.ChoiceField(choices=HEADER_CHOICES, required=False)
    skip_invalid = forms.BooleanField(
        required=False,
        label="Skip invalid rows",
        help_text="Import the valid rows and list the rejected ones. Off: any invalid row fails "
        "the whole import and nothing is written.",
    )
    dry_run = forms.BooleanField(required=False, help_text="Validate and report; write nothing.")

    def import_options(self) -> dict[str, Any]:
        data = self.cleaned_data
        delimiter = data.get("delimiter") or None  # the service reads \\t as a tab and checks it
        header = {"yes": True, "no": False}.get(data.get("has_header") or "")
        return {"format": data["format"], "delimiter": delimiter, "has_header": header}


class DataImportUploadForm(ImportOptionsMixin):
    file = forms.FileField(help_text="CSV, TSV or Parquet; MovieLens files are recognised by name.")
    field_order = ["file", "kind", "format", "delimiter", "has_header", "skip_invalid", "dry_run"]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size == 0:
            raise forms.ValidationError(f"{upload.name} is empty (0 bytes).")
        if upload.size > settings.RECSITE_IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"{upload.name} is {upload.size:,} bytes, over the limit of "
                f"{settings.RECSITE_IMPORT_MAX_BYTES:,} bytes."
            )
        return upload


ROLE_LABELS = {
    "rater": "Rater (user) column",
    "item": "Item column",
    "value": "Value (rating) column",
    "timestamp": "Timestamp column",
    "event_type": "Event type column",
}


class DataImportReviewForm(ImportOptionsMixin):
    """Mapping and options for a draft; the role fields list the file's columns."""

    def __init__(self, *args: Any, columns: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [(c, c) for c in columns or []]
        for role, label in ROLE_LABELS.items():
            self.fields[f"map_{role}"] = forms.ChoiceField(
                choices=choices, required=False, label=label
            )

    def column_map(self) -> dict[str, str] | None:
        mapping = {
            role: self.cleaned_data.get(f"map_{role}")
            for role in ROLE_LABELS
            if self.cleaned_data.get(f"map_{role}")
        }
        return mapping or None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        chosen = [data.get(f"map_{role}") for role in ROLE_LABELS if data.get(f"map_{role}")]
        if len(chosen) != len(set(chosen)):
            raise forms.ValidationError("Each file column can be mapped to one role only.")
        if chosen and not (data.get("map_rater") and data.get("map_item")):
            raise forms.ValidationError("Map both the rater column and the item column.")
        return data
