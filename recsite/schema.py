"""OpenAPI schema additions: the error body of every failing endpoint, path id bounds."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "The body of every error answer (see recsite.api.exception_handler).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "examples": ["invalid", "permission_denied", "throttled"],
                },
                "message": {"type": "string"},
                "details": {
                    "description": "Per-field messages for invalid input, else DRF's detail.",
                    "anyOf": [{"type": "object"}, {"type": "array"}, {"type": "string"}],
                },
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}
ERROR_TEXT = {
    "400": "Invalid input: `details` names each field and what is wrong with it.",
    "401": "Missing, invalid or revoked credentials.",
    "403": "Authenticated, but without the permission or API-key scope this needs.",
    "404": "No such object.",
    "429": "Too many requests for this key or account; retry after `Retry-After` seconds.",
}


def document_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the error answers each operation can give.

    Every operation can be throttled (429) and refuse a bad API key (401); non-public ones
    refuse callers without permission (403); those with a path parameter can miss (404); those
    that take input can reject it (400). Statuses a view documents itself are left alone.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            _bound_integer_path_parameters(operation)
            for status in _error_statuses(operation):
                operation["responses"].setdefault(status, _error_response(status))
    return result


def _bound_integer_path_parameters(operation: dict[str, Any]) -> None:
    # Django's <int:...> converter matches digits only: a negative id never reaches the view.
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and parameter.get("schema", {}).get("type") == "integer":
            parameter["schema"]["minimum"] = 0


def _error_statuses(operation: dict[str, Any]) -> list[str]:
    locations = {parameter["in"] for parameter in operation.get("parameters", [])}
    statuses = ["401", "429"]
    if {} not in operation.get("security", [{}]):
        statuses.append("403")
    if "path" in locations:
        statuses.append("404")
    if "requestBody" in operation or "query" in locations:
        statuses.append("400")
    return sorted(statuses)


def _error_response(status: str) -> dict[str, Any]:
    return {
        "description": ERROR_TEXT[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
