"""The UI's static files: revalidation answers 304, so browsers keep their copy (and
Chromium its compiled code for plotly.min.js) between visits."""

from __future__ import annotations

import urllib.error
import urllib.request
from email.message import Message
from typing import TYPE_CHECKING

import pytest

from cairn.server.ui import CONTENT_SECURITY_POLICY, plotly_bundle

if TYPE_CHECKING:
    from conftest import TrackingServer


def fetch(url: str, etag: str | None = None) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.parametrize("path", ["/", "/static/main.js", "/static/vendor/plotly.min.js"])
def test_a_current_copy_is_not_sent_again(tracking_server: TrackingServer, path: str) -> None:
    if path.endswith("plotly.min.js") and plotly_bundle() is None:
        pytest.skip("plotly is not installed")
    status, headers, body = fetch(tracking_server.url + path)
    assert status == 200 and body
    assert headers["Cache-Control"] == "no-cache"
    etag = headers["ETag"]
    status, headers, body = fetch(tracking_server.url + path, etag)
    assert (status, body) == (304, b"")
    assert headers["ETag"] == etag
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    status, _, body = fetch(tracking_server.url + path, '"0-0"')
    assert status == 200 and body
    status, _, _ = fetch(tracking_server.url + path, f'"0-0", W/{etag}')
    assert status == 304
