"""Who may use the operator pages and APIs: holders of ``catalog.operate`` (the Operators group)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

from catalog.models import OPERATOR_PERMISSION


def is_operator(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(OPERATOR_PERMISSION))


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors go to the login page; signed-in non-operators get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_operator(request.user):
            raise PermissionDenied("Operators only.")
        return view(request, *args, **kwargs)

    return wrapper


class IsOperator(BasePermission):
    message = "Operators only."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_operator(request.user)
