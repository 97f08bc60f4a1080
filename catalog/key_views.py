"""Operator pages for API keys: create (the key is shown once) and revoke."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog import services
from catalog.models import ApiKey
from catalog.permissions import operator_required


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Which application uses it, e.g. “web shop”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple, initial=["read"]
    )


@operator_required
@require_http_methods(["GET", "POST"])
def api_key_list(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        key, new_key = services.api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
        )
        form = ApiKeyForm()
    context = {
        "form": form,
        "keys": ApiKey.objects.select_related("created_by"),
        "new_key": new_key,
    }
    return render(request, "catalog/api_key_list.html", context)


@operator_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    services.api_key_revoke(key=get_object_or_404(ApiKey, pk=key_id))
    return redirect("catalog:api-key-list")
