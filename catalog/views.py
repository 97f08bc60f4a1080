"""HTML pages of the catalog: browsing, imports and the dataset overview."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from catalog import charts, selectors, services
from catalog.forms import ROLE_LABELS, DataImportReviewForm, DataImportUploadForm
from catalog.models import DataImport, Item, Rater
from catalog.permissions import is_operator, operator_required


def home(request: HttpRequest) -> HttpResponse:
    if is_operator(request.user):
        # The operator dashboard (recommender app), named by URL so catalog imports nothing of it.
        return redirect("recommender:overview")
    return redirect("catalog:item-list")


def _current_rater(request: HttpRequest) -> Rater | None:
    if not request.user.is_authenticated:
        return None
    return Rater.objects.filter(user=request.user).first()


def item_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    genre = request.GET.get("genre", "").strip()
    page = Paginator(selectors.item_list(search=search, genre=genre), 30).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "q": search,
        "genre": genre,
        "genres": selectors.genre_list(),
    }
    return render(request, "catalog/item_list.html", context)


def item_detail(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=item_id)
    mine = selectors.rater_ratings_by_item(rater=_current_rater(request)).get(item.pk)
    return render(request, "catalog/item_detail.html", {"item": item, "mine": mine})


@operator_required
def data_import_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.data_import_list(), 25).get_page(request.GET.get("page"))
    return render(request, "catalog/data_import_list.html", {"page": page})


@operator_required
@require_http_methods(["GET", "POST"])
def data_import_upload(request: HttpRequest) -> HttpResponse:
    form = DataImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            data_import = services.data_import_create(
                file=upload,
                original_name=upload.name,
                kind=form.cleaned_data["kind"],
                options=form.import_options(),
                skip_invalid=form.cleaned_data["skip_invalid"],
                dry_run=form.cleaned_data["dry_run"],
                uploaded_by=request.user,
                start=False,
            )
        except services.ImportValidationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("catalog:data-import-review", import_id=data_import.pk)
    return render(request, "catalog/data_import_upload.html", {"form": form})


@operator_required
@require_http_methods(["GET", "POST"])
def data_import_review(request: HttpRequest, import_id: int) -> HttpResponse:
    data_import = get_object_or_404(DataImport, pk=import_id)
    if data_import.status != DataImport.Status.DRAFT:
        return redirect("catalog:data-import-detail", import_id=import_id)
    columns = data_import.layout.get("columns", [])
    form = DataImportReviewForm(
        request.POST or None, columns=columns, initial=_review_initial(data_import)
    )
    if request.method == "POST" and form.is_valid():
        options = form.import_options() | {"column_map": form.column_map()}
        try:
            services.data_import_configure(
                data_import=data_import,
                kind=form.cleaned_data["kind"],
                options=options,
                skip_invalid=form.cleaned_data["skip_invalid"],
                dry_run=form.cleaned_data["dry_run"],
            )
        except services.ImportValidationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if "start" not in request.POST:
                return redirect("catalog:data-import-review", import_id=import_id)
            try:
                services.data_import_start(data_import=data_import)
            except services.ImportValidationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Import of {data_import.original_name} queued.")
                return redirect("catalog:data-import-detail", import_id=import_id)
    context = {
        "data_import": data_import,
        "form": form,
        "role_fields": [form[f"map_{role}"] for role in ROLE_LABELS],
        "preview": services.data_import_preview(data_import=data_import),
    }
    return render(request, "catalog/data_import_review.html", context)


def _review_initial(data_import: DataImport) -> dict[str, Any]:
    options = data_import.options
    layout = data_import.layout
    mapping = options.get("column_map") or layout.get("column_map") or {}
    header = options.get("has_header")
    initial = {
        "kind": data_import.kind,
        "format": options.get("format", "auto"),
        "delimiter": (options.get("delimiter") or "").replace("\t", "\\t"),
        "has_header": {True: "yes", False: "no"}.get(header, ""),
        "skip_invalid": data_import.skip_invalid,
        "dry_run": data_import.dry_run,
    }
    if isinstance(mapping, dict):
        initial.update({f"map_{role}": column for role, column in mapping.items() if column})
    return initial


@operator_required
def data_import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    data_import = get_object_or_404(DataImport, pk=import_id)
    return render(request, "catalog/data_import_detail.html", {"data_import": data_import})


@operator_required
def data_import_errors_csv(request: HttpRequest, import_id: int) -> FileResponse:
    data_import = get_object_or_404(DataImport, pk=import_id)
    if not data_import.errors_file:
        raise Http404("This import has no errors.")
    return FileResponse(
        data_import.errors_file.open("rb"),
        as_attachment=True,
        filename=f"import-{import_id}-errors.csv",
        content_type="text/csv",
    )


def figure_payload(figures: dict[str, go.Figure]) -> dict[str, Any]:
    """Figures as plain JSON for ``json_script``; drawn by static/js/recsite.js (no inline JS)."""
    return {name: json.loads(fig.to_json()) for name, fig in figures.items()}


@operator_required
def dataset_overview(request: HttpRequest) -> HttpResponse:
    overview = selectors.dataset_overview()
    figures = {}
    if overview.interactions:
        figures = {
            "ratings": charts.rating_histogram(overview.value_counts),
            "long_tail": charts.item_long_tail(overview.item_counts),
            "activity": charts.rater_activity(overview.rater_counts),
            "over_time": charts.interactions_over_time(overview.daily),
        }
    context = {
        "overview": overview,
        "charts": figure_payload(figures),
        "recent_imports": selectors.data_import_list()[:5],
    }
    return render(request, "catalog/dataset_overview.html", context)
