"""Operator pages for hyper-parameter searches."""

from __future__ import annotations

import json

import pandas as pd
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.permissions import operator_required
from catalog.views import figure_payload
from recommender import charts, services
from recommender.algorithms import ALGORITHMS
from recommender.models import HyperparameterSearch
from recommender.search import DEFAULT_SPACES, SAMPLERS


class SearchForm(forms.Form):
    algorithm = forms.ChoiceField(choices=[(n, n) for n in sorted(ALGORITHMS)], initial="ease")
    sampler = forms.ChoiceField(choices=[(s, s.upper() if s == "tpe" else s) for s in SAMPLERS])
    max_trials = forms.IntegerField(initial=12, min_value=1, max_value=200)
    time_budget_seconds = forms.IntegerField(
        initial=0, min_value=0, help_text="Stop starting trials after this long; 0 = no limit."
    )
    space = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="JSON ranges; empty = the algorithm's default space (listed below).",
    )

    def clean_space(self) -> dict:
        text = self.cleaned_data.get("space") or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Expected a JSON object.")
        return value


@operator_required
@require_http_methods(["GET", "POST"])
def search_list(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            search = services.search_create(**form.cleaned_data, created_by=request.user)
        except services.TrainingConfigError as exc:
            field = exc.field if exc.field in form.fields else "space"
            form.add_error(field, exc.message)
        else:
            messages.success(request, f"Search {search.pk} queued.")
            return redirect("recommender:search-detail", search_id=search.pk)
    context = {
        "form": form,
        "searches": HyperparameterSearch.objects.all()[:50],
        "default_spaces": {k: json.dumps(v) for k, v in DEFAULT_SPACES.items()},
    }
    return render(request, "recommender/search_list.html", context)


@operator_required
def search_detail(request: HttpRequest, search_id: int) -> HttpResponse:
    search = get_object_or_404(HyperparameterSearch, pk=search_id)
    trials = list(search.trials.filter(protocol="p1-inner").order_by("id"))
    rows = [
        {"trial": n, "value": t.metrics.get(search.metric), "config": json.dumps(t.config)}
        for n, t in enumerate(trials, start=1)
        if t.metrics.get(search.metric) is not None
    ]
    figures = {"trials": charts.search_trials(pd.DataFrame(rows), search.metric)} if rows else {}
    context = {"search": search, "trials": trials, "charts": figure_payload(figures)}
    return render(request, "recommender/search_detail.html", context)


@operator_required
@require_POST
def search_cancel(request: HttpRequest, search_id: int) -> HttpResponse:
    services.search_cancel(search=get_object_or_404(HyperparameterSearch, pk=search_id))
    return redirect("recommender:search-detail", search_id=search_id)
