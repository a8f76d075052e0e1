"""Tracking over HTTP: the TrackingStore contract spoken to a Cairn (or MLflow) server."""

from __future__ import annotations

from cairn.store.rest.tracking import RestTrackingStore

__all__ = ["RestTrackingStore"]
