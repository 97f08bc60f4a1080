"""Helpers shared by the recommender's management commands."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError


def json_object(text: str, flag: str) -> dict[str, Any]:
    """Parse a command-line JSON object, naming the flag in the error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{flag}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise CommandError(f"{flag}: expected a JSON object")
    return value
