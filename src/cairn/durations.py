"""Durations as people type them: "90d", "12h", "1d12h", "1.5h", "2w", "45s".

One grammar for every command and setting that takes one (`cairn gc --older-than`, `cairn
doctor --stuck-after`, `cairn users token --expires-in`, the token REST calls,
CAIRN_SESSION_LIFETIME), so "1d12h" means the same everywhere.
"""

from __future__ import annotations

import re

from cairn.exceptions import InvalidParameterValueError

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+")


def duration_ms(text: str, bare_unit: str | None = None) -> int:
    """Milliseconds in `text`: numbers with units s, m, h, d, w, one after another; a bare
    whole number counts in `bare_unit` where one is given. InvalidParameterValueError
    for anything else."""
    value = (text or "").strip()
    if bare_unit is not None and value.isdigit():
        value += bare_unit
    if not _WHOLE.fullmatch(value):
        raise InvalidParameterValueError(
            f"Invalid duration {text!r}: use numbers with units s, m, h, d or w (90d, 1d12h)."
        )
    return int(sum(float(number) * _UNIT_MS[unit] for number, unit in _PART.findall(value)))
