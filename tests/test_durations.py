"""One duration grammar for every command and setting that takes one."""

from __future__ import annotations

import pytest

from cairn.durations import duration_ms
from cairn.exceptions import InvalidParameterValueError

HOUR = 3_600_000


@pytest.mark.parametrize(
    ("text", "bare_unit", "expected"),
    [
        ("45s", None, 45_000),
        ("90m", None, 90 * 60_000),
        ("24h", None, 24 * HOUR),
        (" 24 h ", None, 24 * HOUR),
        ("1.5h", None, HOUR * 3 // 2),
        ("1d12h", None, 36 * HOUR),
        ("2w", None, 14 * 24 * HOUR),
        ("90", "d", 90 * 24 * HOUR),
    ],
)
def test_durations_in_every_accepted_form(text: str, bare_unit: str | None, expected: int) -> None:
    assert duration_ms(text, bare_unit) == expected


@pytest.mark.parametrize("text", ["24", "3 weeks", "soon", "", "h", "-1d", "1y"])
def test_anything_else_is_refused_by_name(text: str) -> None:
    with pytest.raises(InvalidParameterValueError, match="Invalid duration"):
        duration_ms(text)
