"""Small builders for import tests: write a file, import it through the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import services
from catalog.models import DataImport


def upload(name: str, content: str | bytes) -> SimpleUploadedFile:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return SimpleUploadedFile(name, data)


def run_import(name: str, content: str | bytes, **kwargs: Any) -> DataImport:
    """Create an import and run it in-process, as the worker would."""
    data_import = services.data_import_create(
        file=upload(name, content), original_name=name, start=False, **kwargs
    )
    DataImport.objects.filter(pk=data_import.pk).update(status=DataImport.Status.PENDING)
    services.data_import_run(import_id=data_import.pk)
    return DataImport.objects.get(pk=data_import.pk)


def read(path: Path) -> bytes:
    return path.read_bytes()
