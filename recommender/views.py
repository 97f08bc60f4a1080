"""Operator pages for training runs: list and launch, detail with live curves."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.permissions import operator_required
from catalog.views import figure_payload
from recommender import charts, selectors, services
from recommender.forms import TrainingRunForm
from recommender.models import TrainingRun


@operator_required
@require_http_methods(["GET", "POST"])
def run_list(request: HttpRequest) -> HttpResponse:
    form = TrainingRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.training_run_create(**form.cleaned_data, created_by=request.user)
        except services.TrainingConfigError as exc:
            target = exc.field if exc.field in form.fields else "config"
            form.add_error(
                target, f"{exc.field}: {exc.message}" if target == "config" else exc.message
            )
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
        "algorithms": selectors.algorithm_catalogue(),
        "statuses": TrainingRun.Status.choices,
        "filter_algorithm": algorithm,
        "filter_status": status,
        "active_run": selectors.active_run_get(),
    }
    return render(request, "recommender/run_list.html", context)


@operator_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=run_id)
    frame = selectors.training_run_metrics_frame(run=run)
    figures = {"curves": charts.training_curves(frame)} if not frame.empty else {}
    headline = {k: v for k, v in run.metrics.items() if not k.startswith(("cold_", "warm_"))}
    groups = {
        prefix: {k[len(prefix) :]: v for k, v in run.metrics.items() if k.startswith(prefix)}
        for prefix in ("cold_", "warm_")
    }
    context = {
        "run": run,
        "charts": figure_payload(figures),
        "headline": headline,
        "groups": groups,
    }
    return render(request, "recommender/run_detail.html", context)


@operator_required
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = services.training_run_cancel(run=get_object_or_404(TrainingRun, pk=run_id))
    messages.success(request, f"Cancellation of run {run.pk} requested.")
    return redirect("recommender:run-detail", run_id=run_id)


@operator_required
@require_POST
def run_activate(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=run_id)
    try:
        services.training_run_activate(run=run, activated_by=request.user)
    except services.ActivationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run {run.pk} is now serving recommendations.")
    return redirect("recommender:run-detail", run_id=run_id)
