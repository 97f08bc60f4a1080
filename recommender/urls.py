from django.urls import path

from recommender import views

app_name = "recommender"

urlpatterns = [
    path("operator/runs/", views.run_list, name="run-list"),
    path("operator/runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("operator/runs/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("operator/runs/<int:run_id>/activate/", views.run_activate, name="run-activate"),
]
