from django.contrib import admin

from catalog.models import DataImport, Interaction, Item, Rater


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "title", "created_at"]
    search_fields = ["external_id", "title"]


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ["external_id", "user", "created_at"]
    search_fields = ["external_id", "user__username"]


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["rater", "item", "event_type", "value", "occurred_at", "source"]
    list_filter = ["event_type", "source"]
    raw_id_fields = ["rater", "item"]


@admin.register(DataImport)
class DataImportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "original_name",
        "kind",
        "status",
        "rows_read",
        "rows_imported",
        "created_at",
    ]
    list_filter = ["status", "kind"]
