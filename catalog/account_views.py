"""End-user pages of the catalog: sign-up, rating items, my ratings, deleting my data."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from catalog import selectors, services
from catalog.models import Interaction, Item

MY_RATINGS_PER_PAGE = 50


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome! Rate a few items to get your own recommendations.")
        return redirect("recommender:onboarding")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_POST
def item_rate(request: HttpRequest, item_id: int) -> HttpResponse:
    """The rating form's fallback without JavaScript (the widget uses the API)."""
    item = get_object_or_404(Item, pk=item_id)
    rater = services.rater_for_user(user=request.user)
    if "remove" in request.POST:
        services.my_rating_remove(rater=rater, item_id=item.pk)
    elif "not_interested" in request.POST:
        services.my_rating_set(
            rater=rater, item=item, value=1.0, event_type=Interaction.EventType.NOT_INTERESTED
        )
    else:
        try:
            services.my_rating_set(rater=rater, item=item, value=float(request.POST["value"]))
        except (KeyError, ValueError, services.ImportValidationError):
            messages.error(request, "Choose a rating between 1 and 5 stars.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}):
        back = ""
    return redirect(back or "catalog:item-detail", **({} if back else {"item_id": item_id}))


@login_required
def my_ratings(request: HttpRequest) -> HttpResponse:
    rater = services.rater_for_user(user=request.user)
    interactions = selectors.rater_interactions(rater=rater)
    page = Paginator(interactions, MY_RATINGS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "catalog/my_ratings.html", {"interactions": page, "page": page})


@login_required
@require_http_methods(["GET", "POST"])
def delete_my_data(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        rater = services.rater_for_user(user=request.user)
        services.rater_erase(rater=rater, delete_account=True)
        logout(request)
        messages.success(request, "Your ratings and your account are deleted.")
        return redirect(settings.LOGOUT_REDIRECT_URL)
    return render(request, "catalog/delete_my_data.html")
