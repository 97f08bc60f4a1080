"""An upload cut off mid-way leaves nothing behind: no import row, no stored file."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings

from catalog.models import DataImport

CSRF = "abcdefghijklmnopqrstuvwxyz012345"  # any 32 characters pass Django's token check

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_interrupted_upload_creates_nothing(live_server, client, operator, media_root):
    client.force_login(operator)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    boundary = "----recsite-test-boundary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "user_id,item_id,rating\r\n" + "u1,i1,4\r\n" * 1000
    ).encode()
    url = urlparse(live_server.url)
    request = (
        "POST /operator/imports/new/ HTTP/1.1\r\n"
        f"Host: {url.hostname}:{url.port}\r\n"
        f"Cookie: {settings.SESSION_COOKIE_NAME}={session}; csrftoken={CSRF}\r\n"
        f"X-CSRFToken: {CSRF}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) * 10}\r\n"  # promises far more than is sent
        "Connection: close\r\n\r\n"
    ).encode()

    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(request + head)
        conn.shutdown(socket.SHUT_WR)  # the client goes away mid-upload
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass

    assert DataImport.objects.count() == 0
    assert not [p for p in media_root.rglob("*") if p.is_file()]
