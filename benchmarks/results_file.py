"""The raw figures of one benchmark run, written with the machine they came from (for the
benchmarks that keep their own `results/<name>-latest.json`)."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def write_results(
    path: Path, load_before: tuple[float, float, float], config: dict[str, Any], **parts: Any
) -> None:
    """Write `config` and `parts` (rows, samples, …) with the date and the machine, and say
    where they went."""
    document = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": load_before,
        },
        "config": config,
        **parts,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nraw figures: {path}")
