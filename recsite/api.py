"""API-wide helpers: one error body shape for every failure, one way to page through lists."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
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


class HealthApi(APIView):
    """Liveness: answers without touching the database (load balancers, benchmarks)."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class Pagination(LimitOffsetPagination):
    """``?limit=&offset=`` on every list: 50 by default, at most 500 a page."""

    default_limit = 50
    max_limit = 500


PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Rows per page (default 50, at most 500)."),
    OpenApiParameter("offset", int, description="Rows to skip."),
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
