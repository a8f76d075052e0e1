"""One source and environment capture for the runs a process starts close together.

Capturing costs ~15 ms of background work (a git status and diff, reading every installed
distribution's version). A script that starts thousands of runs would spend that on each;
here a capture is reused for `REUSE_SECONDS`, written to disk once, and copied into each
run. Once it is done its late tags (the dirty flag) are known when the next run is created,
so only the first run of each capture pays an extra write for them. The fluent session
holds the current capture.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time

from cairn.tracking.run_context import Capture, CaptureResult, start_capture

REUSE_SECONDS = 5.0
FINISH_TIMEOUT_SECONDS = 30.0


class SharedCapture:
    def __init__(self) -> None:
        self.capture: Capture = start_capture()
        self.started = time.monotonic()
        self._folder: str | None = None
        self._files: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self.started < REUSE_SECONDS

    def known_tags(self) -> dict[str, str]:
        """The tags known now: the cheap ones, plus the late ones once the capture is done."""
        tags = dict(self.capture.tags)
        if self.capture.done():
            tags.update(self.capture.result(0).late_tags())
        return tags

    def has_nothing_to_store(self) -> bool:
        """Done, with no files and no late tags (capture switched off, or nothing found)."""
        if not self.capture.done():
            return False
        result = self.capture.result(0)
        return not result.artifacts and not result.late_tags()

    def result(self) -> CaptureResult:
        return self.capture.result(FINISH_TIMEOUT_SECONDS)

    def folder(self) -> str | None:
        """The captured files written out once (None when there are none); kept until exit."""
        with self._lock:
            if self._folder is None:
                result = self.result()
                if not result.artifacts:
                    return None
                folder = tempfile.mkdtemp(prefix="cairn-capture-")
                atexit.register(shutil.rmtree, folder, True)
                self._files = [
                    (relative, os.path.join(folder, relative))
                    for relative in result.write_to(folder)
                ]
                self._folder = folder
            return self._folder

    def files(self) -> list[tuple[str, str]]:
        """(artifact path, local file) of each captured file, listed once for every run."""
        self.folder()
        return self._files
