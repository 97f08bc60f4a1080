from django.urls import path

from recommender import dashboard_views, policy_views, search_views, user_views, views

app_name = "recommender"

urlpatterns = [
    path("for-you/", user_views.for_you, name="for-you"),
    path("operator/policy/", policy_views.serving_policy, name="serving-policy"),
    path("operator/searches/", search_views.search_list, name="search-list"),
    path("operator/searches/<int:search_id>/", search_views.search_detail, name="search-detail"),
    path(
        "operator/searches/<int:search_id>/cancel/",
        search_views.search_cancel,
        name="search-cancel",
    ),
    path("welcome/", user_views.onboarding, name="onboarding"),
    path("operator/runs/", views.run_list, name="run-list"),
    path("operator/runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("operator/runs/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("operator/runs/<int:run_id>/activate/", views.run_activate, name="run-activate"),
    # Operator dashboard
    path("operator/", dashboard_views.overview, name="overview"),
    path("operator/runs/compare/", views.run_compare, name="run-compare"),
    path("operator/runs/<int:run_id>/curves.json", views.run_curves, name="run-curves"),
    path("operator/models/", dashboard_views.model_registry, name="model-registry"),
    path("operator/raters/", dashboard_views.rater_browser, name="rater-browser"),
    path(
        "operator/raters/<int:rater_id>/",
        dashboard_views.rater_recommendations,
        name="rater-recommendations",
    ),
    path(
        "operator/raters/<int:rater_id>/what-if/",
        dashboard_views.rater_what_if_load,
        name="rater-what-if-load",
    ),
    path("operator/what-if/", dashboard_views.rater_what_if, name="rater-what-if"),
    path("operator/items/<int:item_id>/", dashboard_views.item_inspect, name="item-inspect"),
]
