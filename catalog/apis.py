"""REST endpoints for the catalog: items and imports (DRF, documented by drf-spectacular)."""

from __future__ import annotations

import json
from typing import Any

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors, services
from catalog.forms import FORMAT_CHOICES
from catalog.models import DataImport, Interaction, Item, Rater
from catalog.permissions import FeedbackScope, ManageScope
from recsite.api import PAGE_PARAMETERS, no_nul_characters, page_serializer, paginated


class ItemOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "external_id", "title", "description", "genres", "attributes"]


class ItemPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = ItemOutputSerializer(many=True)


class ItemListApi(APIView):
    permission_classes = [AllowAny]

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True, default="")
        genre = serializers.CharField(required=False, allow_blank=True, default="")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
        # Bounded: a database refuses an OFFSET past 64 bits (a 500 otherwise).
        offset = serializers.IntegerField(required=False, min_value=0, max_value=10**9, default=0)

    @extend_schema(parameters=[FilterSerializer], responses=ItemPageSerializer)
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
    uploaded_by = serializers.CharField(
        source="uploaded_by.username", default=None, allow_null=True
    )
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
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
            "phase",
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

    permission_classes = [ManageScope]
    parser_classes = [MultiPartParser]  # a file upload: the only encoding that carries one

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DataImportInput"  # each view's InputSerializer needs its own component

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
            if not all(isinstance(column, str) for column in value.values()):
                raise serializers.ValidationError("each role maps to a column name (a string)")
            no_nul_characters(value)
            return value

    @extend_schema(
        parameters=PAGE_PARAMETERS, responses=page_serializer(DataImportOutputSerializer)
    )
    def get(self, request: Request) -> Response:
        return paginated(request, self, selectors.data_import_list(), DataImportOutputSerializer)

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

    permission_classes = [ManageScope]

    @extend_schema(responses=DataImportOutputSerializer)
    def get(self, request: Request, import_id: int) -> Response:
        data_import = get_object_or_404(DataImport, pk=import_id)
        return Response(DataImportOutputSerializer(data_import).data)


class DataImportErrorsApi(APIView):
    """Every row error of an import as CSV (cells neutralised against spreadsheet formulas)."""

    permission_classes = [ManageScope]

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


class ItemInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    genres = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    attributes = serializers.DictField(required=False, default=dict, validators=[no_nul_characters])


class ItemCreateApi(APIView):
    """Create or update an item by its external id (manage scope)."""

    permission_classes = [ManageScope]

    @extend_schema(
        request=ItemInputSerializer,
        responses={201: ItemOutputSerializer, 200: ItemOutputSerializer},  # created / updated
    )
    def post(self, request: Request) -> Response:
        serializer = ItemInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        item, created = services.item_upsert(**data)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ItemOutputSerializer(item).data, status=code)


class ItemManageApi(APIView):
    """Change or delete one item (manage scope)."""

    permission_classes = [ManageScope]

    @extend_schema(request=ItemInputSerializer, responses=ItemOutputSerializer)
    def patch(self, request: Request, item_id: int) -> Response:
        item = get_object_or_404(Item, pk=item_id)
        serializer = ItemInputSerializer(item, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        item = services.item_update(item=item, **serializer.validated_data)
        return Response(ItemOutputSerializer(item).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, item_id: int) -> Response:
        services.item_delete(item=get_object_or_404(Item, pk=item_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RaterSerializer(serializers.ModelSerializer):
    external_id = serializers.CharField(max_length=255)
    attributes = serializers.DictField(required=False, default=dict, validators=[no_nul_characters])
    interactions = serializers.IntegerField(source="interactions.count", read_only=True)

    class Meta:
        model = Rater
        fields = ["id", "external_id", "attributes", "interactions", "created_at"]
        read_only_fields = ["id", "created_at"]


class RaterListCreateApi(APIView):
    """List raters, or create/update one by external id (manage scope)."""

    permission_classes = [ManageScope]

    @extend_schema(parameters=PAGE_PARAMETERS, responses=page_serializer(RaterSerializer))
    def get(self, request: Request) -> Response:
        raters = Rater.objects.exclude(external_id=None).order_by("id")
        return paginated(request, self, raters, RaterSerializer)

    @extend_schema(
        request=RaterSerializer,
        responses={201: RaterSerializer, 200: RaterSerializer},  # created / updated
    )
    def post(self, request: Request) -> Response:
        serializer = RaterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rater, created = services.rater_upsert(
            external_id=serializer.validated_data["external_id"],
            attributes=serializer.validated_data.get("attributes", {}),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(RaterSerializer(rater).data, status=code)


class RaterDetailApi(APIView):
    """One rater by external id; PATCH changes it; DELETE erases the rater and their data."""

    permission_classes = [ManageScope]

    @extend_schema(responses=RaterSerializer)
    def get(self, request: Request, external_id: str) -> Response:
        return Response(RaterSerializer(get_object_or_404(Rater, external_id=external_id)).data)

    @extend_schema(request=RaterSerializer, responses=RaterSerializer)
    def patch(self, request: Request, external_id: str) -> Response:
        """Change a rater's external id and/or replace its attributes."""
        rater = get_object_or_404(Rater, external_id=external_id)
        serializer = RaterSerializer(rater, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        rater = services.rater_update(rater=rater, **serializer.validated_data)
        return Response(RaterSerializer(rater).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, external_id: str) -> Response:
        services.rater_erase(rater=get_object_or_404(Rater, external_id=external_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FeedbackEventSerializer(serializers.Serializer):
    rater = serializers.CharField(max_length=255, help_text="the rater's external id")
    item = serializers.CharField(max_length=255, help_text="the item's external id")
    event_type = serializers.ChoiceField(choices=Interaction.EventType.values, default="rating")
    value = serializers.FloatField(required=False)
    occurred_at = serializers.DateTimeField(required=False)


class FeedbackEventCreateApi(APIView):
    """Record one event, or a batch as ``{"events": [...]}`` (all-or-nothing; feedback scope)."""

    permission_classes = [FeedbackScope]
    MAX_BATCH = 1000

    @extend_schema(request=FeedbackEventSerializer, responses={201: None})
    def post(self, request: Request) -> Response:
        is_batch = isinstance(request.data, dict) and "events" in request.data
        raw = request.data["events"] if is_batch else [request.data]
        if not isinstance(raw, list) or not 0 < len(raw) <= self.MAX_BATCH:
            raise serializers.ValidationError(
                {"events": [f"a list of 1 to {self.MAX_BATCH} events"]}
            )
        serializer = FeedbackEventSerializer(data=raw, many=True)
        serializer.is_valid(raise_exception=True)
        try:
            recorded = services.feedback_record_many(events=serializer.validated_data)
        except services.FeedbackError as exc:
            where = f"events[{exc.index}].{exc.field}" if is_batch else exc.field or "event"
            raise serializers.ValidationError({where: [exc.message]}) from exc
        return Response({"recorded": len(recorded)}, status=status.HTTP_201_CREATED)


class MyRatingApi(APIView):
    """The signed-in user's rating of an item (the site's star widget): PUT sets, DELETE removes."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MyRatingInput"

        value = serializers.FloatField()
        event_type = serializers.ChoiceField(
            choices=[Interaction.EventType.RATING, Interaction.EventType.NOT_INTERESTED],
            default=Interaction.EventType.RATING,
        )

    @extend_schema(request=InputSerializer, responses={200: None})
    def put(self, request: Request, item_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = get_object_or_404(Item, pk=item_id)
        rater = services.rater_for_user(user=request.user)
        try:
            interaction = services.my_rating_set(
                rater=rater, item=item, **serializer.validated_data
            )
        except services.ImportValidationError as exc:
            raise serializers.ValidationError({"value": [exc.message]}) from exc
        return Response(
            {"item_id": item.pk, "event_type": interaction.event_type, "value": interaction.value}
        )

    @extend_schema(responses={204: None})
    def delete(self, request: Request, item_id: int) -> Response:
        rater = services.rater_for_user(user=request.user)
        services.my_rating_remove(rater=rater, item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
