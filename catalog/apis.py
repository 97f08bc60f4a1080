"""REST endpoints for the catalog: items and imports (DRF, documented by drf-spectacular)."""

from __future__ import annotations

import json
from typing import Any

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors, services
from catalog.forms import FORMAT_CHOICES
from catalog.models import DataImport, Item
from catalog.permissions import IsOperator


class ItemOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "external_id", "title", "description", "genres", "attributes"]


class ItemListApi(APIView):
    permission_classes = [AllowAny]

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True, default="")
        genre = serializers.CharField(required=False, allow_blank=True, default="")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
        offset = serializers.IntegerField(required=False, min_value=0, default=0)

    @extend_schema(parameters=[FilterSerializer], responses=ItemOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        items = selectors.item_list(search=params["q"], genre=params["genre"])
        page = items[params["offset"] : params["offset"] + params["limit"]]
        return Response(
            {"count": items.count(), "results": ItemOutputSerializer(page, many=True).data}
        )


class ItemDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=ItemOutputSerializer)
    def get(self, request: Request, item_id: int) -> Response:
        item = get_object_or_404(Item, pk=item_id)
        return Response(ItemOutputSerializer(item).data)


class DataImportOutputSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.CharField(source="uploaded_by.username", default=None)
    duration_seconds = serializers.FloatField(read_only=True)
    is_finished = serializers.BooleanField(read_only=True)
    errors_csv_url = serializers.SerializerMethodField()

    class Meta:
        model = DataImport
        fields = [
            "id",
            "original_name",
            "size_bytes",
            "kind",
            "options",
            "layout",
            "skip_invalid",
            "dry_run",
            "status",
            "is_finished",
            "rows_read",
            "rows_imported",
            "rows_rejected",
            "duplicates_collapsed",
            "raters_created",
            "items_created",
            "error_count",
            "errors",
            "message",
            "uploaded_by",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "errors_csv_url",
        ]

    def get_errors_csv_url(self, obj: DataImport) -> str | None:
        if not obj.errors_file:
            return None
        return f"/api/v1/imports/{obj.pk}/errors.csv"


class DataImportListCreateApi(APIView):
    """List imports, or upload a file to import (multipart)."""

    permission_classes = [IsOperator]
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        kind = serializers.ChoiceField(choices=DataImport.Kind.values, default="auto")
        format = serializers.ChoiceField(choices=[c for c, _ in FORMAT_CHOICES], default="auto")
        delimiter = serializers.CharField(required=False, allow_blank=True, max_length=3)
        has_header = serializers.BooleanField(required=False, allow_null=True, default=None)
        column_map = serializers.JSONField(
            required=False, help_text='e.g. {"rater": "uid", "item": "sku", "value": "stars"}'
        )
        skip_invalid = serializers.BooleanField(default=False)
        dry_run = serializers.BooleanField(default=False)

        def validate_column_map(self, value: Any) -> dict[str, str]:
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise serializers.ValidationError(f"not valid JSON: {exc}") from exc
            allowed = {"rater", "item", "value", "timestamp", "event_type"}
            if not isinstance(value, dict) or not set(value) <= allowed:
                raise serializers.ValidationError(f"an object with keys among {sorted(allowed)}")
            return value

    @extend_schema(responses=DataImportOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        imports = selectors.data_import_list()[:100]
        return Response(DataImportOutputSerializer(imports, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: DataImportOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options = {
            "format": data["format"],
            "delimiter": data.get("delimiter") or None,
            "has_header": data.get("has_header"),
            "column_map": data.get("column_map"),
        }
        try:
            data_import = services.data_import_create(
                file=data["file"],
                original_name=data["file"].name,
                kind=data["kind"],
                options=options,
                skip_invalid=data["skip_invalid"],
                dry_run=data["dry_run"],
                uploaded_by=request.user,
            )
        except services.ImportValidationError as exc:
            raise serializers.ValidationError(
                {exc.field or "non_field_errors": [exc.message]}
            ) from exc
        return Response(
            DataImportOutputSerializer(data_import).data, status=status.HTTP_201_CREATED
        )


class DataImportDetailApi(APIView):
    """One import with its progress; poll it until ``is_finished``."""

    permission_classes = [IsOperator]

    @extend_schema(responses=DataImportOutputSerializer)
    def get(self, request: Request, import_id: int) -> Response:
        data_import = get_object_or_404(DataImport, pk=import_id)
        return Response(DataImportOutputSerializer(data_import).data)


class DataImportErrorsApi(APIView):
    """Every row error of an import as CSV (cells neutralised against spreadsheet formulas)."""

    permission_classes = [IsOperator]

    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request: Request, import_id: int) -> FileResponse:
        data_import = get_object_or_404(DataImport, pk=import_id)
        if not data_import.errors_file:
            raise Http404("This import has no errors.")
        return FileResponse(
            data_import.errors_file.open("rb"),
            as_attachment=True,
            filename=f"import-{import_id}-errors.csv",
            content_type="text/csv",
        )
