"""Operator page for the serving and retraining policy."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from catalog.permissions import operator_required
from recommender import serving
from recommender.algorithms import ALGORITHMS
from recommender.models import ServingPolicy, TrainingRun


class ServingPolicyForm(forms.ModelForm):
    retrain_algorithm = forms.ChoiceField(choices=[(n, n) for n in sorted(ALGORITHMS)])

    class Meta:
        model = ServingPolicy
        fields = [
            "diversity",
            "retrain_every_hours",
            "retrain_after_interactions",
            "retrain_algorithm",
            "retrain_config",
            "gate_metric",
        ]

    def clean_diversity(self) -> float:
        value = self.cleaned_data["diversity"]
        if not 0 <= value <= 1:
            raise forms.ValidationError("Between 0 (relevance only) and 1.")
        return value

    def clean(self) -> dict:
        data = super().clean()
        for field in ("retrain_every_hours", "retrain_after_interactions"):
            if (data.get(field) or 0) < 0:
                self.add_error(field, "0 (off) or a positive number.")
        return data


@operator_required
@require_http_methods(["GET", "POST"])
def serving_policy(request: HttpRequest) -> HttpResponse:
    policy = ServingPolicy.current()
    form = ServingPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        form.save()
        serving.policy_changed()
        messages.success(request, "Policy saved.")
        return redirect("recommender:serving-policy")
    automatic = TrainingRun.objects.exclude(trigger="manual").order_by("-created_at")[:10]
    return render(
        request,
        "recommender/serving_policy.html",
        {"form": form, "policy": policy, "automatic": automatic},
    )
