"""Training runs (job rows), their per-epoch metrics, activations and precomputed lists."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    algorithm = models.CharField(max_length=50)
    config = models.JSONField(default=dict, blank=True)
    signal = models.JSONField(default=dict, blank=True)
    seed = models.IntegerField(default=42)
    protocol = models.CharField(max_length=10, default="p1")
    # Under P1, the share of each rater's training rows held out for per-epoch validation
    # and early stopping (models that train in epochs only); 0 = none.
    validation_share = models.FloatField(default=0.0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    epochs_total = models.IntegerField(default=0)
    epochs_done = models.IntegerField(default=0)
    phase = models.CharField(max_length=40, blank=True)  # "evaluating", "fitting for serving", …
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    dataset_stats = models.JSONField(default=dict, blank=True)
    artifact = models.FileField(upload_to="artifacts/", blank=True)
    is_active = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True)
    trigger = models.CharField(
        max_length=20, default="manual"
    )  # manual, schedule, threshold, search
    search = models.ForeignKey(
        "HyperparameterSearch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="trials",
    )
    gate = models.TextField(blank=True)  # the quality gate's verdict for automatic retrains
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_training_run"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.algorithm})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def has_artifact(self) -> bool:
        return bool(self.artifact)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def progress(self) -> float:
        if self.is_finished:
            return 1.0
        return self.epochs_done / self.epochs_total if self.epochs_total else 0.0


class EpochMetric(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="epoch_metrics")
    epoch = models.IntegerField()
    name = models.CharField(max_length=60)
    value = models.FloatField()

    class Meta:
        ordering = ["run", "epoch", "name"]
        constraints = [
            models.UniqueConstraint(fields=["run", "epoch", "name"], name="one_metric_per_epoch")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} epoch {self.epoch} {self.name}={self.value:g}"


class ModelActivation(models.Model):
    """History of which run served and who put it there (activating an older run rolls back)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="activations")
    previous_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    activated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-activated_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.run_id} activated at {self.activated_at:%Y-%m-%d %H:%M}"


class RecommendationSnapshot(models.Model):
    """A rater's precomputed top-N from one run, so serving is a lookup."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="snapshots")
    rater = models.ForeignKey(
        "catalog.Rater", on_delete=models.CASCADE, related_name="recommendation_snapshots"
    )
    item_ids = models.JSONField(default=list)  # catalog Item primary keys, best first
    scores = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now_add=True)
    # How many interactions the rater had then: another count now means the list is stale.
    history_size = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "rater"], name="one_snapshot_per_run_rater")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} top-{len(self.item_ids)} for rater {self.rater_id}"


class RecommendationImpression(models.Model):
    """One list actually served to a rater (a page view or an API call): what they were shown.

    One row per served list, not per item, so recording it is a single INSERT on the serving
    path. The online feedback rate on the overview compares these lists with what the rater
    did afterwards. Erasing a rater deletes their impressions (FK cascade).
    """

    class Surface(models.TextChoices):
        PAGE = "page"
        API = "api"

    rater = models.ForeignKey(
        "catalog.Rater", on_delete=models.CASCADE, related_name="recommendation_impressions"
    )
    run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    item_ids = models.JSONField(default=list)  # catalog Item primary keys, in the order shown
    strategy = models.CharField(max_length=20, blank=True)  # precomputed, folded-in, popularity
    surface = models.CharField(max_length=10, choices=Surface.choices)
    served_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-served_at", "-id"]

    def __str__(self) -> str:
        return f"{len(self.item_ids)} items shown to rater {self.rater_id} ({self.surface})"


class ServingPolicy(models.Model):
    """Operator settings for serving and retraining: one row (pk=1)."""

    diversity = models.FloatField(
        default=0.0, help_text="0 = pure relevance; up to 1 = strong genre diversity (MMR)."
    )
    retrain_every_hours = models.IntegerField(
        default=0, help_text="Retrain on a schedule every this many hours; 0 = off."
    )
    retrain_after_interactions = models.IntegerField(
        default=0, help_text="Retrain once this many new interactions arrived; 0 = off."
    )
    retrain_algorithm = models.CharField(max_length=50, default="ease")
    retrain_config = models.JSONField(default=dict, blank=True)
    gate_metric = models.CharField(max_length=50, default="ndcg_at_10")
    last_retrain_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "serving policy"

    @classmethod
    def current(cls) -> ServingPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class PerUserMetrics(models.Model):
    """A run's evaluation figures per test rater, for paired significance tests between runs.

    ``columns`` is column-wise JSON: ``user_id`` (rater keys as strings), ``cold`` and one list
    per metric (``ndcg_at_10``, ``recall_at_10``, …), see ``evaluation.significance``. It lives
    apart from ``TrainingRun`` so listing runs never loads it.
    """

    run = models.OneToOneField(
        TrainingRun, on_delete=models.CASCADE, related_name="per_user_metrics"
    )
    columns = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"per-user metrics of run {self.run_id}"


class HyperparameterSearch(models.Model):
    """A parent job whose trials are ordinary training runs, scored on an inner split."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    algorithm = models.CharField(max_length=50)
    space = models.JSONField(default=dict)
    sampler = models.CharField(max_length=10, default="tpe")
    metric = models.CharField(max_length=50, default="ndcg_at_10")
    max_trials = models.IntegerField(default=20)
    time_budget_seconds = models.IntegerField(default=0)  # 0: no time limit
    seed = models.IntegerField(default=42)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    best_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    best_value = models.FloatField(null=True, blank=True)
    final_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"search {self.pk} ({self.algorithm}, {self.sampler})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL
