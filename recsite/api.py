"""API-wide helpers: one error body shape for every failure, one way to page through lists."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Wrap DRF's handler so every error reads ``{"error": {"code", "message", "details"}}``."""
    if isinstance(exc, Http404):  # DRF answers it as NotFound; name its code the same way
        exc = exceptions.NotFound(*exc.args)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else code
    message = (
        detail.get("detail")
        if isinstance(detail, dict) and "detail" in detail
        else "Invalid input."
    )
    response.data = {"error": {"code": code, "message": str(message), "details": detail}}
    return response


def no_nul_characters(value: Any) -> None:
    """Field validator for JSON objects and lists: no key or text anywhere in them holds NUL,
    which PostgreSQL's JSON cannot store (DRF's text fields refuse it already)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError("NUL characters (\\u0000) cannot be stored.")
    elif isinstance(value, dict):
        for key, item in value.items():
            no_nul_characters(key)
            no_nul_characters(item)
    elif isinstance(value, list):
        for item in value:
            no_nul_characters(item)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: API paths that match no route get the API's JSON error body, pages HTML."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


class HealthApi(APIView):
    """Liveness: answers without touching the database (load balancers, benchmarks)."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class Pagination(LimitOffsetPagination):
    """``?limit=&offset=`` on every list: 50 by default, at most 500 a page."""

    default_limit = 50
    max_limit = 500

    def get_limit(self, request: Request) -> int | None:
        self._check_count(request, self.limit_query_param, minimum=1)
        return super().get_limit(request)

    def get_offset(self, request: Request) -> int:
        self._check_count(request, self.offset_query_param, minimum=0)
        return super().get_offset(request)

    @staticmethod
    def _check_count(request: Request, name: str, minimum: int) -> None:
        # DRF quietly falls back to the default on a bad value; the schema promises an integer.
        raw = request.query_params.get(name)
        if raw is not None and not (raw.isdigit() and int(raw) >= minimum):
            raise exceptions.ValidationError({name: [f"an integer, at least {minimum}"]})


PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1},
        description="Rows per page (default 50, at most 500).",
    ),
    OpenApiParameter("offset", {"type": "integer", "minimum": 0}, description="Rows to skip."),
]


def page_serializer(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The documented shape of a page of ``item``: count, next/previous links, results."""
    name = item.__name__.removesuffix("Serializer").removesuffix("Output") + "PageSerializer"
    fields = {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
    }
    return type(name, (serializers.Serializer,), fields)


def paginated(
    request: Request, view: APIView, rows: Any, serializer: type[serializers.Serializer]
) -> Response:
    """One page of ``rows`` (a queryset or list) serialised, with the total and links."""
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)
