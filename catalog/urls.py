from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("items/", views.item_list, name="item-list"),
    path("items/<int:item_id>/", views.item_detail, name="item-detail"),
    path("operator/data/", views.dataset_overview, name="dataset-overview"),
    path("operator/imports/", views.data_import_list, name="data-import-list"),
    path("operator/imports/new/", views.data_import_upload, name="data-import-upload"),
    path("operator/imports/<int:import_id>/", views.data_import_detail, name="data-import-detail"),
    path(
        "operator/imports/<int:import_id>/review/",
        views.data_import_review,
        name="data-import-review",
    ),
    path(
        "operator/imports/<int:import_id>/errors.csv",
        views.data_import_errors_csv,
        name="data-import-errors",
    ),
]
