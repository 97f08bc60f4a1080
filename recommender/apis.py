"""REST endpoints for training runs and recommendations."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Rater
from catalog.permissions import ManageScope, ReadScope
from recommender import selectors, services
from recommender.models import TrainingRun
from recommender.pipeline import PROTOCOLS
from recommender.serving import recommend_for_rater


class TrainingRunOutputSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    is_finished = serializers.BooleanField(read_only=True)
    duration_seconds = serializers.FloatField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "algorithm",
            "config",
            "signal",
            "seed",
            "protocol",
            "status",
            "is_finished",
            "progress",
            "phase",
            "epochs_total",
            "epochs_done",
            "heartbeat_at",
            "error",
            "metrics",
            "timings",
            "dataset_stats",
            "is_active",
            "cancel_requested",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        ]


class TrainingRunDetailSerializer(TrainingRunOutputSerializer):
    epochs = serializers.SerializerMethodField()

    class Meta(TrainingRunOutputSerializer.Meta):
        fields = [*TrainingRunOutputSerializer.Meta.fields, "epochs"]

    def get_epochs(self, run: TrainingRun) -> list[dict[str, float]]:
        frame = selectors.training_run_metrics_frame(run=run)
        return [{"epoch": int(epoch), **row.dropna().to_dict()} for epoch, row in frame.iterrows()]


class TrainingRunListCreateApi(APIView):
    """List training runs, or launch one (validated before it is queued)."""

    permission_classes = [ManageScope]

    class InputSerializer(serializers.Serializer):
        algorithm = serializers.CharField()
        config = serializers.JSONField(required=False, default=dict)
        signal = serializers.JSONField(required=False, default=dict)
        protocol = serializers.ChoiceField(choices=sorted(PROTOCOLS), default="p1")
        seed = serializers.IntegerField(default=42, min_value=0, max_value=2**31 - 1)

    class FilterSerializer(serializers.Serializer):
        algorithm = serializers.CharField(required=False, default="")
        status = serializers.ChoiceField(
            choices=TrainingRun.Status.values, required=False, default=""
        )

    @extend_schema(parameters=[FilterSerializer], responses=TrainingRunOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        runs = selectors.training_run_list(**filters.validated_data)[:200]
        return Response(TrainingRunOutputSerializer(runs, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: TrainingRunOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run = services.training_run_create(**serializer.validated_data, created_by=request.user)
        except services.TrainingConfigError as exc:
            field = exc.field if exc.field in self.InputSerializer().fields else "config"
            detail = exc.message if field != "config" else {exc.field: [exc.message]}
            raise serializers.ValidationError(
                {field: [detail] if isinstance(detail, str) else detail}
            ) from exc
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class TrainingRunDetailApi(APIView):
    """One run with its progress and per-epoch metrics; poll it while it runs."""

    permission_classes = [ManageScope]

    @extend_schema(responses=TrainingRunDetailSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TrainingRun, pk=run_id)
        return Response(TrainingRunDetailSerializer(run).data)


class TrainingRunCancelApi(APIView):
    permission_classes = [ManageScope]

    @extend_schema(request=None, responses=TrainingRunOutputSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = services.training_run_cancel(run=get_object_or_404(TrainingRun, pk=run_id))
        return Response(TrainingRunOutputSerializer(run).data)


class TrainingRunActivateApi(APIView):
    permission_classes = [ManageScope]

    @extend_schema(request=None, responses=TrainingRunOutputSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TrainingRun, pk=run_id)
        try:
            run = services.training_run_activate(run=run, activated_by=request.user)
        except services.ActivationError as exc:
            raise serializers.ValidationError({"run": [str(exc)]}) from exc
        return Response(TrainingRunOutputSerializer(run).data)


class AlgorithmListApi(APIView):
    permission_classes = [ManageScope]

    def get(self, request: Request) -> Response:
        return Response(selectors.algorithm_catalogue())


class RecommendationOutputSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(source="item.pk")
    external_id = serializers.CharField(source="item.external_id")
    title = serializers.CharField(source="item.display_title")
    score = serializers.FloatField()
    reason = serializers.CharField()


class RaterRecommendationsApi(APIView):
    """A rater's recommendations from the active model, with the strategy used."""

    permission_classes = [ReadScope]

    class FilterSerializer(serializers.Serializer):
        n = serializers.IntegerField(min_value=1, max_value=100, default=10)

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request: Request, rater_id: int) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rater = get_object_or_404(Rater, pk=rater_id)
        result = recommend_for_rater(rater, n=filters.validated_data["n"])
        return Response(
            {
                "rater_id": rater.pk,
                "run_id": result.run_id,
                "strategy": result.strategy,
                "explanation": result.explanation,
                "results": RecommendationOutputSerializer(result.items, many=True).data,
            }
        )
