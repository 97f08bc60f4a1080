from django.urls import path

from recommender import apis

urlpatterns = [
    path("runs/", apis.TrainingRunListCreateApi.as_view(), name="api-run-list"),
    path("runs/<int:run_id>/", apis.TrainingRunDetailApi.as_view(), name="api-run-detail"),
    path("runs/<int:run_id>/cancel/", apis.TrainingRunCancelApi.as_view(), name="api-run-cancel"),
    path(
        "runs/<int:run_id>/activate/",
        apis.TrainingRunActivateApi.as_view(),
        name="api-run-activate",
    ),
    path("algorithms/", apis.AlgorithmListApi.as_view(), name="api-algorithm-list"),
    path(
        "raters/<str:external_id>/recommendations/",
        apis.RaterRecommendationsApi.as_view(),
        name="api-rater-recommendations",
    ),
    path("items/<int:item_id>/similar/", apis.SimilarItemsApi.as_view(), name="api-similar-items"),
    path("metrics/", apis.MetricsApi.as_view(), name="api-metrics"),
    path("searches/", apis.SearchListCreateApi.as_view(), name="api-search-list"),
    path("searches/<int:search_id>/", apis.SearchDetailApi.as_view(), name="api-search-detail"),
]
