from django.urls import path

from catalog import apis

urlpatterns = [
    path("items/", apis.ItemListApi.as_view(), name="api-item-list"),
    path("items/<int:item_id>/", apis.ItemDetailApi.as_view(), name="api-item-detail"),
    path("imports/", apis.DataImportListCreateApi.as_view(), name="api-import-list"),
    path("imports/<int:import_id>/", apis.DataImportDetailApi.as_view(), name="api-import-detail"),
    path(
        "imports/<int:import_id>/errors.csv",
        apis.DataImportErrorsApi.as_view(),
        name="api-import-errors",
    ),
]
