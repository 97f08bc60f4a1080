"""Who may use the operator pages and APIs: holders of ``catalog.operate`` (the Operators group)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.views import redirect_to_login
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

from catalog.models import OPERATOR_PERMISSION, OPERATORS_GROUP, Item


def operators_group() -> Group:
    """The Operators group with its permission (a migration creates it; this restores it)."""
    group, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    codename = OPERATOR_PERMISSION.split(".")[1]
    permission, _ = Permission.objects.get_or_create(
        codename=codename,
        content_type=ContentType.objects.get_for_model(Item),
        defaults={"name": "Can use the operator pages and APIs"},
    )
    group.permissions.add(permission)
    return group


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


def api_scope(scope: str) -> type[BasePermission]:
    """Permission: an API key with ``scope``, or a signed-in operator (session/basic auth)."""

    class HasScope(BasePermission):
        message = f"Needs an API key with the {scope!r} scope, or an operator account."

        def has_permission(self, request: Any, view: Any) -> bool:
            from catalog.models import ApiKey

            if isinstance(request.auth, ApiKey):
                return scope in request.auth.scopes
            return is_operator(request.user)

    HasScope.__name__ = f"HasScope_{scope}"
    return HasScope


ManageScope = api_scope("manage")
ReadScope = api_scope("read")
FeedbackScope = api_scope("feedback")
