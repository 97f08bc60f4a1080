"""Writes and workflows for the catalog: imports, ratings and events, items and raters, API keys."""

from catalog.services.api_keys import (
    API_KEY_PREFIX_LENGTH,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
)
from catalog.services.entities import (
    item_delete,
    item_update,
    item_upsert,
    rater_erase,
    rater_update,
    rater_upsert,
)
from catalog.services.feedback import (
    WIDGET_EVENT_TYPES,
    FeedbackError,
    feedback_record_many,
    interaction_record,
    my_rating_remove,
    my_rating_set,
    rater_for_user,
)
from catalog.services.import_run import data_import_run, stale_imports_fail
from catalog.services.imports import (
    ImportValidationError,
    data_import_configure,
    data_import_create,
    data_import_preview,
    data_import_start,
    read_options,
    wait_for_import,
)

__all__ = [
    "API_KEY_PREFIX_LENGTH",
    "WIDGET_EVENT_TYPES",
    "FeedbackError",
    "ImportValidationError",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "data_import_configure",
    "data_import_create",
    "data_import_preview",
    "data_import_run",
    "data_import_start",
    "feedback_record_many",
    "interaction_record",
    "item_delete",
    "item_update",
    "item_upsert",
    "my_rating_remove",
    "my_rating_set",
    "rater_erase",
    "rater_for_user",
    "rater_update",
    "rater_upsert",
    "read_options",
    "stale_imports_fail",
    "wait_for_import",
]
