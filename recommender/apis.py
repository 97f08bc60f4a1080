"""REST endpoints for training runs and recommendations."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Interaction, Item, Rater
from catalog.permissions import ManageScope, ReadScope
from recommender import selectors, services
from recommender.inspection import similar_items
from recommender.models import HyperparameterSearch, TrainingRun
from recommender.pipeline import PROTOCOLS
from recommender.services.impressions import impression_record
from recommender.serving import Filters, recommend_for_external_id
from recsite.api import PAGE_PARAMETERS, no_nul_characters, page_serializer, paginated


class RecommendationOutputSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(source="item.pk")
    external_id = serializers.CharField(source="item.external_id")
    title = serializers.CharField(source="item.display_title")
    score = serializers.FloatField()
    reason = serializers.CharField()


class RecommendationListSerializer(serializers.Serializer):
    rater = serializers.CharField()
    run_id = serializers.IntegerField(allow_null=True)
    strategy = serializers.ChoiceField(choices=["precomputed", "folded-in", "popularity"])
    explanation = serializers.CharField()
    offset = serializers.IntegerField()
    results = RecommendationOutputSerializer(many=True)


class SimilarItemsSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    results = RecommendationOutputSerializer(many=True)


class ActiveRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    algorithm = serializers.CharField()
    protocol = serializers.CharField()
    metrics = serializers.DictField(child=serializers.FloatField())
    finished_at = serializers.DateTimeField(allow_null=True)


class MetricsSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    raters = serializers.IntegerField()
    interactions = serializers.IntegerField()
    active_run = ActiveRunSerializer(allow_null=True)


class AlgorithmParamSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    default = serializers.JSONField(allow_null=True)


class AlgorithmSerializer(serializers.Serializer):
    name = serializers.CharField()
    predicts_ratings = serializers.BooleanField()
    # Trains in epochs: per-epoch validation, early stopping, a run's validation_share applies.
    trains_in_epochs = serializers.BooleanField()
    description = serializers.CharField(allow_blank=True)
    params = AlgorithmParamSerializer(many=True)


class TrainingRunOutputSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    is_finished = serializers.BooleanField(read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "algorithm",
            "config",
            "signal",
            "seed",
            "protocol",
            "validation_share",
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
        class Meta:
            ref_name = "TrainingRunInput"  # each view's InputSerializer needs its own component

        algorithm = serializers.CharField()
        config = serializers.JSONField(required=False, default=dict, validators=[no_nul_characters])
        signal = serializers.JSONField(required=False, default=dict, validators=[no_nul_characters])
        protocol = serializers.ChoiceField(choices=sorted(PROTOCOLS), default="p1")
        seed = serializers.IntegerField(default=42, min_value=0, max_value=2**31 - 1)
        # The range (0 <= x < 0.5) is the service's rule; its error names this field.
        validation_share = serializers.FloatField(
            default=0.0,
            help_text="P1 only: share (0 to below 0.5) of each rater's training rows held out "
            "for per-epoch validation and early stopping, for models that train in epochs; "
            "0 = none.",
        )

    class FilterSerializer(serializers.Serializer):
        algorithm = serializers.CharField(required=False, default="")
        status = serializers.ChoiceField(
            choices=TrainingRun.Status.values, required=False, default=""
        )

    @extend_schema(
        parameters=[FilterSerializer, *PAGE_PARAMETERS],
        responses=page_serializer(TrainingRunOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        runs = selectors.training_run_list(**filters.validated_data)
        return paginated(request, self, runs, TrainingRunOutputSerializer)

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

    @extend_schema(responses=AlgorithmSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(selectors.algorithm_catalogue())


def _csv_set(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


class RaterRecommendationsApi(APIView):
    """A rater's recommendations (by their external id) with the strategy used (read scope)."""

    permission_classes = [ReadScope]

    class FilterSerializer(serializers.Serializer):
        k = serializers.IntegerField(min_value=1, max_value=100, default=10)
        offset = serializers.IntegerField(min_value=0, max_value=1000, default=0)
        include_categories = serializers.CharField(
            required=False, default="", help_text="comma-separated genres to keep"
        )
        exclude_categories = serializers.CharField(
            required=False, default="", help_text="comma-separated genres to drop"
        )
        exclude_items = serializers.CharField(
            required=False, default="", help_text="comma-separated item external ids"
        )

    @extend_schema(parameters=[FilterSerializer], responses=RecommendationListSerializer)
    def get(self, request: Request, external_id: str) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        excluded = Item.objects.filter(external_id__in=_csv_set(data["exclude_items"]))
        filters = Filters(
            exclude_items=frozenset(excluded.values_list("pk", flat=True)),
            include_genres=_csv_set(data["include_categories"]),
            exclude_genres=_csv_set(data["exclude_categories"]),
        )
        try:
            rater_pk, result = recommend_for_external_id(
                external_id, n=data["k"], offset=data["offset"], filters=filters
            )
        except Rater.DoesNotExist as exc:
            raise Http404("No Rater matches the given query.") from exc
        impression_record(rater_id=rater_pk, result=result, surface="api")
        return Response(
            {
                "rater": external_id,
                "run_id": result.run_id,
                "strategy": result.strategy,
                "explanation": result.explanation,
                "offset": data["offset"],
                # The fields of RecommendationOutputSerializer, built directly: the list is on
                # every request's path and a serializer costs more than serving a cached list.
                "results": [
                    {
                        "item_id": r.item.pk,
                        "external_id": r.item.external_id,
                        "title": r.item.display_title,
                        "score": r.score,
                        "reason": r.reason,
                    }
                    for r in result.items
                ],
            }
        )


class SimilarItemsApi(APIView):
    """Items that go with an item, from the active model (read scope)."""

    permission_classes = [ReadScope]

    class FilterSerializer(serializers.Serializer):
        k = serializers.IntegerField(min_value=1, max_value=100, default=10)

    @extend_schema(parameters=[FilterSerializer], responses=SimilarItemsSerializer)
    def get(self, request: Request, item_id: int) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        item = get_object_or_404(Item, pk=item_id)
        similar = similar_items(selectors.active_run_get(), item, n=params.validated_data["k"])
        return Response(
            {
                "item_id": item.pk,
                "results": RecommendationOutputSerializer(similar.items, many=True).data,
            }
        )


class MetricsApi(APIView):
    """Catalog counts and the active model's offline metrics (read scope)."""

    permission_classes = [ReadScope]

    @extend_schema(responses=MetricsSerializer)
    def get(self, request: Request) -> Response:
        run = selectors.active_run_get()
        return Response(
            {
                "items": Item.objects.count(),
                "raters": Rater.objects.count(),
                "interactions": Interaction.objects.count(),
                "active_run": None
                if run is None
                else {
                    "id": run.pk,
                    "algorithm": run.algorithm,
                    "protocol": run.protocol,
                    "metrics": run.metrics,
                    "finished_at": run.finished_at,
                },
            }
        )


class SearchOutputSerializer(serializers.ModelSerializer):
    is_finished = serializers.BooleanField(read_only=True)
    trials_done = serializers.SerializerMethodField()
    best_config = serializers.SerializerMethodField()

    class Meta:
        model = HyperparameterSearch
        fields = [
            "id",
            "algorithm",
            "space",
            "sampler",
            "metric",
            "max_trials",
            "time_budget_seconds",
            "seed",
            "status",
            "is_finished",
            "trials_done",
            "best_run",
            "best_value",
            "best_config",
            "final_run",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_trials_done(self, search: HyperparameterSearch) -> int:
        return search.trials.filter(protocol="p1-inner").count()

    def get_best_config(self, search: HyperparameterSearch) -> dict | None:
        return search.best_run.config if search.best_run else None


class SearchListCreateApi(APIView):
    """Launch a hyper-parameter search (random or TPE) bounded by trials and/or time."""

    permission_classes = [ManageScope]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SearchInput"

        algorithm = serializers.CharField()
        space = serializers.JSONField(required=False, default=dict, validators=[no_nul_characters])
        sampler = serializers.ChoiceField(choices=["random", "tpe"], default="tpe")
        max_trials = serializers.IntegerField(default=20, min_value=1, max_value=200)
        time_budget_seconds = serializers.IntegerField(default=0, min_value=0)
        seed = serializers.IntegerField(default=42, min_value=0)

    @extend_schema(parameters=PAGE_PARAMETERS, responses=page_serializer(SearchOutputSerializer))
    def get(self, request: Request) -> Response:
        searches = HyperparameterSearch.objects.all()
        return paginated(request, self, searches, SearchOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: SearchOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            search = services.search_create(**serializer.validated_data, created_by=request.user)
        except services.TrainingConfigError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from exc
        return Response(SearchOutputSerializer(search).data, status=status.HTTP_201_CREATED)


class SearchDetailApi(APIView):
    permission_classes = [ManageScope]

    @extend_schema(responses=SearchOutputSerializer)
    def get(self, request: Request, search_id: int) -> Response:
        search = get_object_or_404(HyperparameterSearch, pk=search_id)
        return Response(SearchOutputSerializer(search).data)
