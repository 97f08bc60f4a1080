"""End-user pages: "for you" and onboarding."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from catalog import selectors as catalog_selectors
from catalog.services import rater_for_user
from recommender.services.impressions import impression_record
from recommender.serving import recommend_for_rater


@login_required
def for_you(request: HttpRequest) -> HttpResponse:
    rater = rater_for_user(user=request.user)
    mine = catalog_selectors.rater_ratings_by_item(rater=rater)
    if not mine:
        return redirect("recommender:onboarding")
    result = recommend_for_rater(rater, n=20)
    impression_record(rater_id=rater.pk, result=result, surface="page")
    return render(request, "recommender/for_you.html", {"result": result, "my": mine})


@login_required
def onboarding(request: HttpRequest) -> HttpResponse:
    rater = rater_for_user(user=request.user)
    mine = catalog_selectors.rater_ratings_by_item(rater=rater)
    items = catalog_selectors.onboarding_items(n=12)
    context = {"entries": [(item, mine.get(item.pk)) for item in items], "rated": len(mine)}
    return render(request, "recommender/onboarding.html", context)
