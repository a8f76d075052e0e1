"""Issue 19, hostile models: the MODELS corpus of hostile model directories
(tests/models/hostile_support.py: MLmodel entries that point outside the folder, shipped
code while pickles are refused, booby-trapped pickles and modules beside the model) loaded
one by one, and a count of the ones refused.

The corpus runs in a subprocess from the repository root, so what a hostile model manages
to import or put on sys.path cannot touch the benchmark. A case is refused when the loader
raised the expected error, no booby trap fired and sys.path is unchanged (the corpus's own
rule); "reached outside" counts the cases where a trap fired or sys.path changed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from reliability_processes import quiet_environment
from reliability_report import Row, Section

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "models" / "hostile_support.py"
RUNNER = """
import json, sys
from pathlib import Path
sys.path.insert(0, "tests/models")
from hostile_support import run_corpus
print(json.dumps([
    {"case": o.case, "hostile": o.hostile, "refused": o.refused, "loaded": o.loaded,
     "reached_outside": o.marker_written or o.sys_path_changed, "error": repr(o.error)[:200]}
    for o in run_corpus(Path(sys.argv[1]))
]))
"""


def hostile_models(root: Path, options: argparse.Namespace) -> Section:
    if not CORPUS.exists():
        return Section("Hostile models", [Row("corpus", "tests/models/hostile_support.py missing")])
    folder = root / "models"
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=quiet_environment(),
    )
    if done.returncode:
        raise RuntimeError(f"the corpus failed: {done.stderr[-1500:]}")
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    hostile = [o for o in outcomes if o["hostile"]]
    legitimate = [o for o in outcomes if not o["hostile"]]
    refused = sum(o["refused"] for o in hostile)
    reached = [o for o in hostile if o["reached_outside"]]
    loaded = sum(o["loaded"] for o in legitimate)
    rows = [
        Row("hostile model directories tried", f"{len(hostile)}"),
        Row("refused", f"{refused}", f"{len(hostile)}", refused == len(hostile)),
        Row(
            "reached outside (a trap fired or sys.path changed)",
            f"{len(reached)}",
            "0",
            not reached,
        ),  # fmt: skip
        Row(
            "legitimate models that still load",
            f"{loaded} / {len(legitimate)}",
            f"{len(legitimate)}",
            loaded == len(legitimate),
        ),  # fmt: skip
    ]
    section = Section("Hostile models", rows, figures={"outcomes": outcomes})
    section.notes += [
        f"not refused: {o['case']} ({o['error']})" for o in hostile if not o["refused"]
    ][:10]
    return section
