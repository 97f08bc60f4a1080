from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from catalog.permissions import is_operator


def navigation(request: HttpRequest) -> dict[str, Any]:
    return {"is_operator": is_operator(getattr(request, "user", None))}
