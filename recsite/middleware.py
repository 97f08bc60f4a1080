"""Site-wide request and response rules: a strict Content-Security-Policy (every script and
style comes from our own static files), and no NUL characters in query strings."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response


class RejectNulInQueryMiddleware:
    """A NUL character in the query string is a 400 before any view runs.

    PostgreSQL cannot compare or store NUL, so a search for ``a%00b`` would otherwise reach the
    database and fail there as a 500. Form fields and API fields refuse NUL themselves.
    """

    MESSAGE = "The query string holds a NUL character (%00), which no parameter may contain."

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            if request.path.startswith("/api/"):
                body = {"error": {"code": "invalid", "message": self.MESSAGE, "details": {}}}
                return JsonResponse(body, status=400)
            return HttpResponseBadRequest(self.MESSAGE, content_type="text/plain")
        return self.get_response(request)
