"""Items, raters, their interactions, and the import job rows."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

OPERATOR_PERMISSION = "catalog.operate"
OPERATORS_GROUP = "Operators"


class Item(models.Model):
    external_id = models.CharField(max_length=255, unique=True)
    title = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    genres = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        permissions = [("operate", "Can use the operator pages and APIs")]

    def __str__(self) -> str:
        return self.display_title

    @property
    def display_title(self) -> str:
        return self.title or f"Item {self.external_id}"


class Rater(models.Model):
    """A person who rates: a dataset row (``external_id``) and/or a site account (``user``)."""

    external_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rater",
    )
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        if self.external_id:
            return self.external_id
        return self.user.get_username() if self.user else f"rater {self.pk}"


class Interaction(models.Model):
    """A rater's current value for one item and event type; a later event replaces it."""

    class EventType(models.TextChoices):
        RATING = "rating"
        VIEW = "view"
        CLICK = "click"
        PURCHASE = "purchase"
        LIKE = "like"
        NOT_INTERESTED = "not_interested"

    class Source(models.TextChoices):
        IMPORT = "import"
        SITE = "site"
        API = "api"

    # No separate rater index: the unique (rater, item, event_type) index starts with it.
    rater = models.ForeignKey(
        Rater, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="interactions")
    event_type = models.CharField(max_length=20, choices=EventType.choices, default="rating")
    value = models.FloatField()
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=Source.choices, default="import")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rater", "item", "event_type"], name="interaction_one_per_rater_item_event"
            ),
            models.CheckConstraint(
                condition=Q(value__gte=-1e9) & Q(value__lte=1e9), name="interaction_value_finite"
            ),
        ]
        # Each index costs every write and every import its upkeep (a bulk load rebuilds them
        # all). A rater's rows are found through the unique index, whose first column is the
        # rater; serving reads them whole, so no (rater, time) index pays its way. Only live
        # feedback is ever looked up by time (the retrain threshold, the feedback rate), so
        # the time index leaves out imported rows, which are nearly all of them.
        indexes = [
            models.Index(
                fields=["occurred_at"],
                condition=~Q(source="import"),
                name="interaction_feedback_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rater} {self.event_type} {self.item}: {self.value}"


class DataImport(models.Model):
    """One uploaded file and its import job (NetBox-style job row)."""

    class Kind(models.TextChoices):
        AUTO = "auto", "Detect from the file"
        INTERACTIONS = "interactions", "Ratings / interactions"
        ITEMS = "items", "Items (catalog metadata)"
        RATERS = "raters", "Raters (user attributes)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Awaiting confirmation"
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED)

    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.AUTO)
    options = models.JSONField(default=dict, blank=True)
    layout = models.JSONField(default=dict, blank=True)
    skip_invalid = models.BooleanField(default=False)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rows_read = models.BigIntegerField(default=0)
    rows_imported = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    duplicates_collapsed = models.BigIntegerField(default=0)
    raters_created = models.BigIntegerField(default=0)
    items_created = models.BigIntegerField(default=0)
    error_count = models.BigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # the first errors, for the page
    errors_file = models.FileField(upload_to="imports/errors/", blank=True)  # every error, as CSV
    message = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=40, blank=True)  # what a running import is doing

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.original_name})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class ApiKey(models.Model):
    """A key another application sends as ``Authorization: Api-Key <key>``; only a hash is kept."""

    class Scope(models.TextChoices):
        READ = "read", "Read recommendations"
        FEEDBACK = "feedback", "Send feedback events"
        MANAGE = "manage", "Manage data (items, raters, imports, runs)"

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=128)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
