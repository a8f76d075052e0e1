"""The journal against a server that answers badly on purpose (scripted_server.py): what
counts as "try again later" and what as "refused", as the server sent it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scripted_server import Scripted, running

from cairn.exceptions import InvalidParameterValueError
from cairn.tracking.client import Client
from cairn.tracking.journal import Journal

RUN = "a" * 32


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scripted]:
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("CAIRN_JOURNAL_DIR", str(tmp_path / "journal"))
    with running(Scripted()) as scripted:
        yield scripted


def _batches(server: Scripted) -> list[dict[str, str]]:
    return [r.headers for r in server.received if r.path.endswith("/runs/log-batch")]


def test_5xx_and_429_past_the_retries_keep_the_batch_until_it_is_taken(server: Scripted) -> None:
    server.answer(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"})
    server.answer(500, {"error_code": "INTERNAL_ERROR", "message": "database restarting"})
    server.answer(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"})
    journal = Journal(server.url, Client(server.url))
    journal.write_points([(RUN, "loss", 0.5, 1, 0)])  # does not raise
    assert not journal.online
    assert journal.flush(timeout=60)  # the fourth attempt is answered 200
    journal.close()
    sent = _batches(server)
    assert len(sent) == 4
    assert len({headers["idempotency-key"] for headers in sent}) == 1  # one batch, one key


def test_a_refusal_is_raised_and_not_sent_again(server: Scripted) -> None:
    server.answer(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad key"})
    journal = Journal(server.url, Client(server.url))
    with pytest.raises(InvalidParameterValueError, match="bad key"):
        journal.write_points([(RUN, "loss", 0.5, 1, 0)])
    assert journal.online and not journal.pending
    assert journal.flush() is True
    journal.close()
    assert len(_batches(server)) == 1
