"""Operator pages for training runs: list and launch, detail with live curves, compare."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from catalog.permissions import operator_required
from catalog.views import figure_payload
from recommender import charts, selectors, services
from recommender.forms import TrainingRunForm
from recommender.models import TrainingRun


@operator_required
@require_http_methods(["GET", "POST"])
def run_list(request: HttpRequest) -> HttpResponse:
    catalogue = selectors.algorithm_catalogue()
    form = TrainingRunForm(
        request.POST or None,
        catalogue=catalogue,
        initial={"algorithm": request.GET.get("launch", "")} if request.GET.get("launch") else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            run = services.training_run_create(
                algorithm=form.cleaned_data["algorithm"],
                config=form.cleaned_data["config"],
                protocol=form.cleaned_data["protocol"],
                seed=form.cleaned_data["seed"],
                validation_share=form.cleaned_data["validation_share"],
                created_by=request.user,
            )
        except services.TrainingConfigError as exc:
            form.add_launch_error(exc.field, exc.message)
        else:
            messages.success(request, f"Run {run.pk} ({run.algorithm}) queued.")
            return redirect("recommender:run-detail", run_id=run.pk)
    algorithm = request.GET.get("algorithm", "")
    status = request.GET.get("status", "")
    page = Paginator(selectors.training_run_list(algorithm=algorithm, status=status), 25).get_page(
        request.GET.get("page")
    )
    context = {
        "form": form,
        "page": page,
        "algorithms": catalogue,
        "statuses": TrainingRun.Status.choices,
        "filter_algorithm": algorithm,
        "filter_status": status,
        "active_run": selectors.active_run_get(),
    }
    return render(request, "recommender/run_list.html", context)


@operator_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("created_by"), pk=run_id)
    frame = selectors.training_run_metrics_frame(run=run)
    context = {
        "run": run,
        "charts": figure_payload({"curves": charts.training_curves(frame)}),
        "has_curves": any(not name.endswith("_seconds") for name in frame.columns),
        "metric_rows": _metric_rows(run.metrics),
        "test_raters": {
            group: int(run.metrics[f"{prefix}users"])
            for group, prefix in (("all", ""), ("cold", "cold_"), ("warm", "warm_"))
            if f"{prefix}users" in run.metrics
        },
        "config_rows": _config_rows(run),
        # A validation share on a model that fits in closed form held nothing out.
        "validation_unused": bool(run.validation_share)
        and not selectors.algorithm_trains_in_epochs(run.algorithm),
        "activation": selectors.active_activation_get() if run.is_active else None,
        "rollback_to": selectors.rollback_target_get() if run.is_active else None,
        "active_run": selectors.active_run_get(),
    }
    return render(request, "recommender/run_detail.html", context)


def _metric_rows(metrics: dict[str, float]) -> list[dict[str, Any]]:
    """One row per figure: all raters, cold raters, warm raters (headline figures first)."""
    names = [n for n in metrics if not n.startswith(("cold_", "warm_")) and n != "users"]
    names.sort(key=lambda n: (n not in selectors.HEADLINE_METRICS, _headline_rank(n), n))
    return [
        {
            "name": name,
            "all": metrics[name],
            "cold": metrics.get(f"cold_{name}"),
            "warm": metrics.get(f"warm_{name}"),
        }
        for name in names
    ]


def _headline_rank(name: str) -> int:
    order = selectors.HEADLINE_METRICS
    return order.index(name) if name in order else len(order)


def _config_rows(run: TrainingRun) -> list[dict[str, Any]]:
    catalogue = {a["name"]: a for a in selectors.algorithm_catalogue()}
    params = {p["name"]: p for p in catalogue.get(run.algorithm, {}).get("params", [])}
    # In the config class's field order (a JSON column may come back with its keys reordered).
    names = [n for n in params if n in run.config] + [n for n in run.config if n not in params]
    return [
        {
            "name": name,
            "value": json.dumps(run.config[name]),
            "is_default": name in params and params[name]["default"] == run.config[name],
            "help": params.get(name, {}).get("help", ""),
        }
        for name in names
    ]


@operator_required
def run_curves(request: HttpRequest, run_id: int) -> JsonResponse:
    """The training-curves figure as JSON, fetched by recsite.js while the run trains."""
    run = get_object_or_404(TrainingRun, pk=run_id)
    figure = charts.training_curves(selectors.training_run_metrics_frame(run=run))
    return JsonResponse(json.loads(figure.to_json()))


@operator_required
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = services.training_run_cancel(run=get_object_or_404(TrainingRun, pk=run_id))
    messages.success(request, f"Cancellation of run {run.pk} requested.")
    return redirect("recommender:run-detail", run_id=run_id)


@operator_required
@require_POST
def run_activate(request: HttpRequest, run_id: int) -> HttpResponse:
    """Put a run in service; activating an older run is the rollback. Honours a safe ``next``."""
    run = get_object_or_404(TrainingRun, pk=run_id)
    previous = selectors.active_run_get()
    try:
        services.training_run_activate(run=run, activated_by=request.user)
    except services.ActivationError as exc:
        messages.error(request, str(exc))
    else:
        replaced = f" (replacing run {previous.pk})" if previous and previous.pk != run.pk else ""
        messages.success(request, f"Run {run.pk} ({run.algorithm}) now serves{replaced}.")
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("recommender:run-detail", run_id=run_id)


@operator_required
def run_compare(request: HttpRequest) -> HttpResponse:
    """Two or more runs side by side, with paired significance tests on every per-rater metric."""
    chosen = _int_list(request.GET.getlist("runs"))
    candidates = list(selectors.succeeded_run_list()[:100])
    context: dict[str, Any] = {"candidates": candidates, "chosen": chosen, "comparison": None}
    if len(chosen) >= 2:
        comparison = selectors.run_comparison(run_ids=_baseline_first(chosen, request))
        context["comparison"] = comparison
        context["charts"] = figure_payload(_comparison_figures(comparison))
        context["test_groups"] = _test_groups(comparison)
    return render(request, "recommender/run_compare.html", context)


def _test_groups(comparison: selectors.RunComparison) -> list[tuple[Any, list[tuple]]]:
    """Per compared run: its significance rows with formatted t-test, Wilcoxon and
    Holm-adjusted Wilcoxon p-values."""
    groups: dict[int, tuple[Any, list[tuple]]] = {}
    for row in comparison.significance_rows:
        t_p = _p_value(row.test and row.test.t_pvalue)
        w_p = _p_value(row.test and row.test.wilcoxon_pvalue)
        holm_p = _p_value(row.test and row.test.adjusted_pvalue)
        groups.setdefault(row.run.pk, (row.run, []))[1].append((row, t_p, w_p, holm_p))
    return list(groups.values())


def _p_value(value: float | None) -> str:
    if value is None:
        return ""
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _int_list(values: list[str]) -> list[int]:
    return list(dict.fromkeys(int(v) for v in values if v.strip().isdigit()))


def _baseline_first(chosen: list[int], request: HttpRequest) -> list[int]:
    """The baseline is ``?baseline=``, else the active run if chosen, else the oldest run."""
    asked = _int_list([request.GET.get("baseline", "")])
    active = selectors.active_run_get()
    if asked and asked[0] in chosen:
        baseline = asked[0]
    elif active is not None and active.pk in chosen:
        baseline = active.pk
    else:
        baseline = min(chosen)
    return [baseline, *sorted(i for i in chosen if i != baseline)]


def _comparison_figures(comparison: selectors.RunComparison) -> dict[str, Any]:
    figures = {}
    if not comparison.ranking.empty:
        figures["ranking"] = charts.run_comparison(comparison.ranking)
    if not comparison.errors.empty:
        figures["errors"] = charts.run_comparison(
            comparison.errors,
            title="Rating-prediction error by run",
            y_title="error in rating points (lower is better)",
        )
    if not comparison.cold_warm.empty:
        figures["cold_warm"] = charts.run_comparison(
            comparison.cold_warm,
            title="NDCG@10 for cold and warm raters",
            y_title="NDCG@10 (0–1, higher is better)",
            x_title="raters (cold: fewer than 20 training interactions)",
        )
    if comparison.differences:
        figures["differences"] = charts.paired_differences(
            comparison.differences,
            selectors.run_label(comparison.baseline),
            comparison.difference_metric,
        )
    return figures
