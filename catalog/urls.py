from django.urls import path

from catalog import account_views, key_views, views

app_name = "catalog"

urlpatterns = [
    path("items/", views.item_list, name="item-list"),
    path("items/<int:item_id>/", views.item_detail, name="item-detail"),
    path("items/<int:item_id>/rate/", account_views.item_rate, name="item-rate"),
    path("me/ratings/", account_views.my_ratings, name="my-ratings"),
    path("me/delete/", account_views.delete_my_data, name="delete-my-data"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("operator/data/", views.dataset_overview, name="dataset-overview"),
    path("operator/api-keys/", key_views.api_key_list, name="api-key-list"),
    path("operator/api-keys/<int:key_id>/revoke/", key_views.api_key_revoke, name="api-key-revoke"),
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
