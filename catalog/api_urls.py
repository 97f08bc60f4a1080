from django.urls import path

from catalog import apis

urlpatterns = [
    path("items/", apis.ItemListApi.as_view(), name="api-item-list"),
    path("items/new/", apis.ItemCreateApi.as_view(), name="api-item-create"),
    path("items/<int:item_id>/", apis.ItemDetailApi.as_view(), name="api-item-detail"),
    path("items/<int:item_id>/manage/", apis.ItemManageApi.as_view(), name="api-item-manage"),
    path("items/<int:item_id>/my-rating/", apis.MyRatingApi.as_view(), name="api-my-rating"),
    path("raters/", apis.RaterListCreateApi.as_view(), name="api-rater-list"),
    path("raters/<str:external_id>/", apis.RaterDetailApi.as_view(), name="api-rater-detail"),
    path("events/", apis.FeedbackEventCreateApi.as_view(), name="api-events"),
    path("imports/", apis.DataImportListCreateApi.as_view(), name="api-import-list"),
    path("imports/<int:import_id>/", apis.DataImportDetailApi.as_view(), name="api-import-detail"),
    path(
        "imports/<int:import_id>/errors.csv",
        apis.DataImportErrorsApi.as_view(),
        name="api-import-errors",
    ),
]
