"""Reads for training runs and the operator dashboard: lists, metric frames, the algorithm
catalogue, the overview, run comparisons, rater and item look-ups."""

from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDay
from django.utils import timezone

from catalog.models import DataImport, Interaction, Item, Rater
from recommender.algorithms import ALGORITHMS
from recommender.evaluation import significance
from recommender.models import (
    EpochMetric,
    ModelActivation,
    PerUserMetrics,
    RecommendationImpression,
    TrainingRun,
)


def training_run_list(*, algorithm: str = "", status: str = "") -> QuerySet[TrainingRun]:
    runs = TrainingRun.objects.select_related("created_by")
    if algorithm:
        runs = runs.filter(algorithm=algorithm)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-id")


def training_run_get(*, run_id: int) -> TrainingRun:
    return TrainingRun.objects.get(pk=run_id)


def active_run_get() -> TrainingRun | None:
    return TrainingRun.objects.filter(is_active=True).first()


def training_run_metrics_frame(*, run: TrainingRun) -> pd.DataFrame:
    """Per-epoch metrics, one column per metric name, indexed by epoch."""
    rows = EpochMetric.objects.filter(run=run).values_list("epoch", "name", "value")
    frame = pd.DataFrame.from_records(list(rows), columns=["epoch", "name", "value"])
    if frame.empty:
        return pd.DataFrame(index=pd.Index([], name="epoch"))
    return frame.pivot(index="epoch", columns="name", values="value").sort_index()


def activation_list() -> QuerySet[ModelActivation]:
    return ModelActivation.objects.select_related("run", "previous_run", "activated_by")


def algorithm_catalogue() -> list[dict[str, Any]]:
    """Every registered algorithm with its hyper-parameters, types and defaults."""
    catalogue = []
    for name, model_class in sorted(ALGORITHMS.items()):
        config_class = model_class.config_class
        helps = _field_help(config_class)
        fields = [
            {
                "name": f.name,
                "type": str(f.type),
                "default": _default(f),
                "help": helps.get(f.name, ""),
            }
            for f in dataclasses.fields(config_class)
        ]
        catalogue.append(
            {
                "name": name,
                "predicts_ratings": model_class.predicts_ratings,
                "trains_in_epochs": model_class.trains_in_epochs,
                "description": (model_class.__doc__ or "").strip().split("\n")[0],
                "params": fields,
            }
        )
    return catalogue


def algorithm_trains_in_epochs(name: str) -> bool:
    """Whether the algorithm trains in epochs (False for an unknown name)."""
    model_class = ALGORITHMS.get(name)
    return bool(model_class is not None and model_class.trains_in_epochs)


def _default(field: dataclasses.Field) -> Any:  # type: ignore[type-arg]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _field_help(config_class: type) -> dict[str, str]:
    """Each field's help: ``metadata["help"]`` if set, else the comment lines right above it.

    Base config classes are read too (a subclass's comment wins), so inherited fields keep theirs.
    """
    helps: dict[str, str] = {}
    for klass in config_class.__mro__[:-1]:
        try:
            helps = _comment_help(inspect.getsource(klass)) | helps
        except (OSError, TypeError):
            continue
    for field in dataclasses.fields(config_class):
        if field.metadata.get("help"):
            helps[field.name] = str(field.metadata["help"])
    return helps


def _comment_help(source: str) -> dict[str, str]:
    helps: dict[str, str] = {}
    comment: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        declared = re.match(r"([A-Za-z_]\w*)\s*:", stripped)
        if declared and comment:
            helps.setdefault(declared.group(1), " ".join(comment))
        comment = []  # a blank line or any code ends a comment block
    return helps


# --- Operator dashboard -----------------------------------------------------------------------

#: Figures shown first wherever a run is summarised (those a run has, in this order).
HEADLINE_METRICS = (
    "ndcg_at_10",
    "recall_at_10",
    "precision_at_10",
    "hit_rate_at_10",
    "map_at_10",
    "coverage_at_10",
    "rmse",
    "mae",
)
#: +1: higher is better; -1: lower is better. Others (novelty, popularity bias) are neutral.
METRIC_DIRECTION = {
    **{
        f"{m}_at_10": 1
        for m in ("ndcg", "recall", "precision", "f1", "hit_rate", "mrr", "map", "coverage")
    },
    "map": 1,
    "auc": 1,
    "like_accuracy": 1,
    "rmse": -1,
    "mae": -1,
}
#: Served lists from this many days back count towards the online feedback rate.
FEEDBACK_WINDOW_DAYS = 30
#: Interactions that count as a response to a recommendation (views do not: a view is often
#: the impression itself).
FEEDBACK_EVENTS = (
    Interaction.EventType.RATING,
    Interaction.EventType.CLICK,
    Interaction.EventType.LIKE,
    Interaction.EventType.PURCHASE,
    Interaction.EventType.NOT_INTERESTED,
)


def headline_metrics(metrics: dict[str, float]) -> dict[str, float]:
    return {name: metrics[name] for name in HEADLINE_METRICS if name in metrics}


def succeeded_run_list() -> QuerySet[TrainingRun]:
    return training_run_list(status=TrainingRun.Status.SUCCEEDED).filter(~Q(artifact=""))


def active_activation_get() -> ModelActivation | None:
    """The activation that put the active run in service (who and since when)."""
    return activation_list().filter(run__is_active=True).first()


def rollback_target_get() -> TrainingRun | None:
    """The run that served before the active one, if it can serve again."""
    activation = active_activation_get()
    previous = activation.previous_run if activation else None
    if previous is None or previous.status != TrainingRun.Status.SUCCEEDED:
        return None
    return previous if previous.artifact else None


@dataclass(frozen=True)
class FeedbackRate:
    """Online feedback: how often raters went on to act on what they were actually shown.

    Definition: every (rater, item) pair served on the "for you" page or by the recommendations
    API (``RecommendationImpression``) in the ``window_days`` before now counts once in
    ``served`` (the denominator), from the first time it was served in the window. ``responded``
    counts the pairs the rater then acted on through the site or the API: a rating, click,
    like, purchase or "not interested" on that item after it was first served. Views do not
    count (a view is often the impression itself), and imported interactions never count.
    """

    served: int
    responded: int
    raters: int
    lists: int
    window_days: int

    @property
    def rate(self) -> float | None:
        return self.responded / self.served if self.served else None

    @property
    def percent(self) -> float | None:
        return 100 * self.rate if self.rate is not None else None


def feedback_rate(
    *, window_days: int = FEEDBACK_WINDOW_DAYS, now: datetime | None = None
) -> FeedbackRate:
    """The online feedback rate over the ``window_days`` before ``now`` (see FeedbackRate)."""
    since = (now or timezone.now()) - timedelta(days=window_days)
    in_window = RecommendationImpression.objects.filter(served_at__gte=since)
    lists = list(in_window.values_list("rater_id", "item_ids", "served_at"))
    pairs = [
        (rater_id, item_id, served_at)
        for rater_id, item_ids, served_at in lists
        for item_id in item_ids
    ]
    if not pairs:
        return FeedbackRate(0, 0, 0, len(lists), window_days)
    shown = (
        pd.DataFrame(pairs, columns=["rater_id", "item_id", "served_at"])
        .groupby(["rater_id", "item_id"], as_index=False)["served_at"]
        .min()
    )
    events = pd.DataFrame.from_records(
        list(
            Interaction.objects.filter(
                rater_id__in=in_window.values("rater_id"),  # a subquery: no parameter limit
                source__in=[Interaction.Source.SITE, Interaction.Source.API],
                event_type__in=FEEDBACK_EVENTS,
                occurred_at__gt=since,
            ).values_list("rater_id", "item_id", "occurred_at")
        ),
        columns=["rater_id", "item_id", "occurred_at"],
    )
    merged = shown.merge(events, on=["rater_id", "item_id"], how="left")
    merged["hit"] = merged["occurred_at"].notna() & (merged["occurred_at"] > merged["served_at"])
    responded = int(merged.groupby(["rater_id", "item_id"])["hit"].any().sum())
    return FeedbackRate(
        len(shown), responded, int(shown["rater_id"].nunique()), len(lists), window_days
    )


def interactions_daily_frame() -> pd.DataFrame:
    """Interactions per day and source (import, site, api): columns day, source, count."""
    return pd.DataFrame.from_records(
        Interaction.objects.annotate(day=TruncDay("occurred_at"))
        .values("day", "source")
        .annotate(count=Count("id"))
        .order_by("day", "source"),
        columns=["day", "source", "count"],
    )


@dataclass
class DashboardOverview:
    items: int
    raters: int
    interactions: int
    daily: pd.DataFrame  # day, source, count
    active_run: TrainingRun | None
    activation: ModelActivation | None
    headline: dict[str, float]
    recent_runs: list[TrainingRun]
    recent_imports: list[DataImport]
    runs_in_progress: int
    feedback: FeedbackRate


def dashboard_overview() -> DashboardOverview:
    """Everything on the operator home page, in a handful of queries."""
    active = active_run_get()
    return DashboardOverview(
        items=Item.objects.count(),
        raters=Rater.objects.count(),
        interactions=Interaction.objects.count(),
        daily=interactions_daily_frame(),
        active_run=active,
        activation=active_activation_get(),
        headline=headline_metrics(active.metrics) if active else {},
        recent_runs=list(training_run_list()[:6]),
        recent_imports=list(
            DataImport.objects.select_related("uploaded_by").order_by("-created_at", "-id")[:5]
        ),
        runs_in_progress=TrainingRun.objects.exclude(status__in=TrainingRun.TERMINAL).count(),
        feedback=feedback_rate(),
    )


# --- Comparing runs ---------------------------------------------------------------------------

RANKING_CHART_METRICS = tuple(
    f"{m}_at_10" for m in ("ndcg", "recall", "precision", "hit_rate", "map", "mrr")
)
ERROR_CHART_METRICS = ("rmse", "mae")
SIGNIFICANCE_METRIC = "ndcg_at_10"


def run_label(run: TrainingRun) -> str:
    return f"run {run.pk} · {run.algorithm}"


@dataclass
class MetricRow:
    name: str
    values: list[float | None]
    differences: list[tuple[float | None, str]]  # vs the baseline: value, "better"/"worse"/""

    @property
    def cells(self) -> list[tuple[float | None, float | None, str]]:
        """(value, difference from the baseline, verdict) per run; the baseline has none."""
        rest = [
            (v, d, verdict)
            for v, (d, verdict) in zip(self.values[1:], self.differences, strict=True)
        ]
        return [(self.values[0], None, ""), *rest] if self.values else []


@dataclass
class RunComparison:
    """Two or more finished runs side by side; the first is the baseline."""

    runs: list[TrainingRun]
    rows: list[MetricRow]
    ranking: pd.DataFrame  # metric × run label, for the grouped bar chart
    errors: pd.DataFrame  # rmse/mae × run label (rating protocols only)
    cold_warm: pd.DataFrame  # ["cold raters", "warm raters"] × run label, NDCG@10
    # metric → run id → paired test against the baseline (None: that run kept no such figures)
    tests: dict[str, dict[int, significance.PairedTest | None]]
    differences: dict[str, pd.Series]  # run label → per-rater difference vs baseline
    difference_metric: str  # the metric of ``differences`` (the first tested one)
    problems: list[str]  # why the runs are not comparable ([] when they are)
    without_per_user: list[int]  # runs that kept no per-rater figures

    @property
    def is_comparable(self) -> bool:
        return not self.problems

    @property
    def baseline(self) -> TrainingRun:
        return self.runs[0]

    @property
    def significance_rows(self) -> list[SignificanceRow]:
        """One row per run (baseline excluded) and tested metric, run by run."""
        return [
            SignificanceRow(metric, run, test, _significance_verdict(metric, test))
            for run in self.runs[1:]
            for metric, per_run in self.tests.items()
            for test in [per_run.get(run.pk)]
        ]


@dataclass(frozen=True)
class SignificanceRow:
    metric: str
    run: TrainingRun
    test: significance.PairedTest | None
    verdict: str  # "better" / "worse" when significant and the metric has a direction, else ""


def _significance_verdict(metric: str, test: significance.PairedTest | None) -> str:
    direction = METRIC_DIRECTION.get(metric, 0)
    if test is None or not test.significant or not direction or test.mean_difference == 0:
        return ""
    return "better" if test.mean_difference * direction > 0 else "worse"


def run_comparison(*, run_ids: list[int]) -> RunComparison:
    """Metrics of ``run_ids`` (order kept, first = baseline) with paired tests over raters.

    Every per-rater metric the baseline kept (``PerUserMetrics``: NDCG, recall, … for ranking
    protocols; RMSE and MAE for P2) is tested for each other run on the raters both evaluated.
    """
    found = TrainingRun.objects.in_bulk(run_ids)
    runs = [found[i] for i in dict.fromkeys(run_ids) if i in found]
    labels = [run_label(run) for run in runs]
    frame = pd.DataFrame(
        {
            label: pd.Series(run.metrics, dtype="float64")
            for label, run in zip(labels, runs, strict=True)
        }
    )
    cold_warm = pd.DataFrame(
        {
            label: [run.metrics.get(f"{group}_{SIGNIFICANCE_METRIC}") for group in ("cold", "warm")]
            for label, run in zip(labels, runs, strict=True)
        },
        index=["cold raters", "warm raters"],
        dtype="float64",
    ).dropna(how="all")
    per_user = {
        row.run_id: row.columns
        for row in PerUserMetrics.objects.filter(run_id__in=[run.pk for run in runs])
    }
    comparison = RunComparison(
        runs=runs,
        rows=_metric_rows(frame),
        ranking=frame.reindex([m for m in RANKING_CHART_METRICS if m in frame.index]),
        errors=frame.reindex([m for m in ERROR_CHART_METRICS if m in frame.index]),
        cold_warm=cold_warm,
        tests={},
        differences={},
        difference_metric="",
        problems=comparability_problems(runs),
        without_per_user=[
            run.pk for run in runs if not significance.stored_metrics(per_user.get(run.pk, {}))
        ],
    )
    if comparison.is_comparable and runs:
        _paired_tests(comparison, per_user)
    return comparison


def _metric_rows(frame: pd.DataFrame) -> list[MetricRow]:
    names = [m for m in HEADLINE_METRICS if m in frame.index] + sorted(
        m
        for m in frame.index
        if m not in HEADLINE_METRICS and not m.startswith(("cold_", "warm_")) and m != "users"
    )
    rows = []
    for name in names:
        values = [None if pd.isna(v) else float(v) for v in frame.loc[name]]
        base = values[0] if values else None
        direction = METRIC_DIRECTION.get(name, 0)
        differences = []
        for value in values[1:]:
            if value is None or base is None:
                differences.append((None, ""))
                continue
            delta = value - base
            verdict = (
                ""
                if delta == 0 or not direction
                else ("better" if delta * direction > 0 else "worse")
            )
            differences.append((delta, verdict))
        rows.append(MetricRow(name, values, differences))
    return rows


def comparability_problems(runs: list[TrainingRun]) -> list[str]:
    """Why these runs' figures cannot be compared one to one ([] when they can).

    Same protocol, same data (fingerprint) and, for the random splits (P1, P2), the same seed:
    otherwise the test raters and held-out items differ and so do the figures.
    """
    problems = []
    unfinished = [run.pk for run in runs if run.status != TrainingRun.Status.SUCCEEDED]
    if len(runs) < 2:
        problems.append("Choose at least two runs to compare.")
    if unfinished:
        problems.append(f"Runs {_ids(unfinished)} have not succeeded, so they have no figures.")
    protocols = {run.protocol for run in runs}
    if len(protocols) > 1:
        problems.append(
            "The runs were evaluated with different protocols ("
            + ", ".join(f"run {run.pk}: {run.protocol.upper()}" for run in runs)
            + "): their figures measure different things."
        )
    fingerprints = {run.dataset_stats.get("sha256") for run in runs}
    if len(fingerprints) > 1:
        problems.append(
            "The runs saw different data (fingerprints "
            + ", ".join(
                f"run {run.pk}: {run.dataset_stats.get('sha256') or 'none'}" for run in runs
            )
            + "); relaunch them on the current data to compare."
        )
    seeds = {run.seed for run in runs}
    if protocols & {"p1", "p2"} and len(seeds) > 1:
        problems.append(
            "The runs split the data with different seeds ("
            + ", ".join(f"run {run.pk}: {run.seed}" for run in runs)
            + "), so their test raters and held-out items differ."
        )
    return problems


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _paired_tests(comparison: RunComparison, per_user: dict[int, dict[str, Any]]) -> None:
    """Fill ``tests`` and ``differences``: each metric the baseline kept, for every other run."""
    baseline_columns = per_user.get(comparison.baseline.pk, {})
    metrics = significance.stored_metrics(baseline_columns)
    others = comparison.runs[1:]
    if not metrics:  # the baseline kept nothing: say so once, under the headline metric
        comparison.tests[SIGNIFICANCE_METRIC] = {run.pk: None for run in others}
        return
    comparison.difference_metric = metrics[0]
    for metric in metrics:
        baseline = significance.per_user_series(baseline_columns, metric)
        comparison.tests[metric] = {}
        for run in others:
            other = significance.per_user_series(per_user.get(run.pk, {}), metric)
            test = None if other is None else significance.paired_test(baseline, other)
            comparison.tests[metric][run.pk] = test
            if metric == comparison.difference_metric and other is not None:
                joined = pd.concat({"a": baseline, "b": other}, axis=1, join="inner").dropna()
                comparison.differences[run_label(run)] = joined["b"] - joined["a"]
    for run in others:  # one family per compared run: all its metrics against the baseline
        corrected = significance.holm_corrected(
            {metric: comparison.tests[metric][run.pk] for metric in metrics}
        )
        for metric, test in corrected.items():
            comparison.tests[metric][run.pk] = test


# --- Raters and items -------------------------------------------------------------------------


def rater_search(*, query: str = "", limit: int = 25) -> list[Rater]:
    """Raters whose external id or account username contains ``query`` (exact matches first).

    Without a query: the raters with the most interactions.
    """
    raters = Rater.objects.select_related("user").annotate(n_interactions=Count("interactions"))
    if not query:
        return list(raters.order_by("-n_interactions", "id")[:limit])
    matches = list(
        raters.filter(
            Q(external_id__icontains=query) | Q(user__username__icontains=query)
        ).order_by("id")[: limit * 4]
    )
    exact = query.lower()
    matches.sort(
        key=lambda r: (
            (r.external_id or "").lower() != exact
            and (r.user.get_username().lower() if r.user else "") != exact,
            r.pk,
        )
    )
    return matches[:limit]


def rater_history(*, rater: Rater, limit: int = 100) -> QuerySet[Interaction]:
    """The rater's interactions, newest first."""
    return (
        Interaction.objects.filter(rater=rater)
        .select_related("item")
        .order_by("-occurred_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class ItemStats:
    raters: int
    ratings: int
    mean_rating: float | None
    by_event: dict[str, int]
    by_source: dict[str, int]
    value_counts: pd.DataFrame  # value, count (rating events)


def item_stats(*, item: Item) -> ItemStats:
    interactions = Interaction.objects.filter(item=item)
    ratings = interactions.filter(event_type=Interaction.EventType.RATING)
    value_counts = pd.DataFrame.from_records(
        ratings.values("value").annotate(count=Count("id")).order_by("value"),
        columns=["value", "count"],
    )
    total = int(value_counts["count"].sum()) if len(value_counts) else 0
    mean = float((value_counts["value"] * value_counts["count"]).sum() / total) if total else None
    return ItemStats(
        raters=interactions.values("rater_id").distinct().count(),
        ratings=total,
        mean_rating=mean,
        by_event=dict(interactions.values_list("event_type").annotate(n=Count("id"))),
        by_source=dict(interactions.values_list("source").annotate(n=Count("id"))),
        value_counts=value_counts,
    )
