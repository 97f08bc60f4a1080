"""Operator dashboard pages: overview, model registry, rater browser, what-if panel, item page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from catalog import charts as catalog_charts
from catalog.models import Interaction, Item, Rater
from catalog.permissions import operator_required
from catalog.views import figure_payload
from recommender import charts, inspection, selectors
from recommender.forms import WhatIfRatingForm
from recommender.models import TrainingRun

WHAT_IF_SESSION_KEY = "recommender.what_if"
WHAT_IF_MAX = 200
LIST_LENGTH = 10


@operator_required
def overview(request: HttpRequest) -> HttpResponse:
    """The operator home: data, the serving model, recent jobs and online feedback."""
    data = selectors.dashboard_overview()
    figures = {}
    if not data.daily.empty:
        figures["over_time"] = catalog_charts.interactions_over_time(data.daily)
    context = {"data": data, "charts": figure_payload(figures)}
    return render(request, "recommender/overview.html", context)


@operator_required
def model_registry(request: HttpRequest) -> HttpResponse:
    """Which run serves, since when and by whom; the activation history; one-click rollback."""
    context = {
        "active_run": selectors.active_run_get(),
        "activation": selectors.active_activation_get(),
        "rollback_to": selectors.rollback_target_get(),
        "activations": selectors.activation_list()[:50],
        "candidates": [
            (run, selectors.headline_metrics(run.metrics))
            for run in selectors.succeeded_run_list()[:50]
        ],
    }
    return render(request, "recommender/model_registry.html", context)


@operator_required
def rater_browser(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    raters = selectors.rater_search(query=query)
    if query and len(raters) == 1:
        return redirect("recommender:rater-recommendations", rater_id=raters[0].pk)
    return render(request, "recommender/rater_browser.html", {"query": query, "raters": raters})


def _chosen_run(request: HttpRequest) -> TrainingRun | None:
    """The run picked in ``?run=`` to show beside the active one (succeeded runs only)."""
    value = request.GET.get("run", "")
    if not value.isdigit():
        return None
    return selectors.succeeded_run_list().filter(pk=int(value)).first()


def _side_by_side_context(request: HttpRequest) -> dict[str, Any]:
    return {
        "active_run": selectors.active_run_get(),
        "other_run": _chosen_run(request),
        "runs": list(selectors.succeeded_run_list()[:50]),
    }


@operator_required
def rater_recommendations(request: HttpRequest, rater_id: int) -> HttpResponse:
    """One rater: history, and recommendations with reasons from the active and a chosen run."""
    rater = get_object_or_404(Rater.objects.select_related("user"), pk=rater_id)
    context = _side_by_side_context(request)
    lists = [inspection.rater_recommendations(rater, context["active_run"], LIST_LENGTH)]
    if context["other_run"] is not None:
        lists.append(inspection.rater_recommendations(rater, context["other_run"], LIST_LENGTH))
    context |= {
        "rater": rater,
        "history": selectors.rater_history(rater=rater),
        "interaction_count": Interaction.objects.filter(rater=rater).count(),
        "lists": lists,
    }
    return render(request, "recommender/rater_recommendations.html", context)


def _what_if_history(request: HttpRequest) -> list[tuple[int, float]]:
    return [(int(pk), float(value)) for pk, value in request.session.get(WHAT_IF_SESSION_KEY, [])]


def _save_what_if(request: HttpRequest, history: list[tuple[int, float]]) -> None:
    request.session[WHAT_IF_SESSION_KEY] = [[pk, value] for pk, value in history[-WHAT_IF_MAX:]]


@operator_required
@require_http_methods(["GET", "POST"])
def rater_what_if(request: HttpRequest) -> HttpResponse:
    """A synthetic rater kept in the session: add or remove ratings and watch the lists change."""
    history = _what_if_history(request)
    form = WhatIfRatingForm(request.POST if "add" in request.POST else None)
    if request.method == "POST":
        if "add" in request.POST and form.is_valid():
            item = form.cleaned_data["item"]
            history = [(pk, v) for pk, v in history if pk != item.pk]
            history.append((item.pk, form.cleaned_data["value"]))
            _save_what_if(request, history)
            return redirect(_what_if_url(request))
        if "remove" in request.POST:
            remove = int(request.POST["remove"]) if request.POST["remove"].isdigit() else None
            _save_what_if(request, [(pk, v) for pk, v in history if pk != remove])
            return redirect(_what_if_url(request))
        if "clear" in request.POST:
            _save_what_if(request, [])
            return redirect(_what_if_url(request))
    context = _side_by_side_context(request)
    lists = [inspection.history_recommendations(history, context["active_run"], LIST_LENGTH)]
    if context["other_run"] is not None:
        lists.append(inspection.history_recommendations(history, context["other_run"], LIST_LENGTH))
    items = Item.objects.in_bulk([pk for pk, _ in history])
    context |= {
        "form": form,
        "history": [(items[pk], value) for pk, value in history if pk in items],
        "lists": lists,
    }
    return render(request, "recommender/rater_what_if.html", context)


def _what_if_url(request: HttpRequest) -> str:
    url = reverse("recommender:rater-what-if")
    run = request.POST.get("run", "")
    return f"{url}?run={run}" if run.isdigit() else url


@operator_required
@require_POST
def rater_what_if_load(request: HttpRequest, rater_id: int) -> HttpResponse:
    """Start the what-if rater from a real rater's ratings (copied into the session)."""
    rater = get_object_or_404(Rater, pk=rater_id)
    rows = (
        Interaction.objects.filter(rater=rater, event_type=Interaction.EventType.RATING)
        .order_by("occurred_at", "id")
        .values_list("item_id", "value")
    )
    history = [(pk, float(value)) for pk, value in rows][-WHAT_IF_MAX:]
    _save_what_if(request, history)
    messages.success(request, f"What-if rater starts from {rater}'s {len(history)} ratings.")
    return redirect("recommender:rater-what-if")


@operator_required
def item_inspect(request: HttpRequest, item_id: int) -> HttpResponse:
    """An item for operators: attributes, rating distribution, similar items per model."""
    item = get_object_or_404(Item, pk=item_id)
    stats = selectors.item_stats(item=item)
    figures = {}
    if stats.ratings:
        title = f"Ratings of {item.display_title}"
        scale = (settings.RECSITE_RATING_MIN, settings.RECSITE_RATING_MAX)
        figures["ratings"] = charts.item_ratings(stats.value_counts, title[:80], scale)
    context = _side_by_side_context(request)
    lists = [inspection.similar_items(context["active_run"], item, LIST_LENGTH)]
    if context["other_run"] is not None:
        lists.append(inspection.similar_items(context["other_run"], item, LIST_LENGTH))
    context |= {
        "item": item,
        "stats": stats,
        "charts": figure_payload(figures),
        "lists": lists,
    }
    return render(request, "recommender/item_inspect.html", context)
