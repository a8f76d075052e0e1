"""Cairn's version, in one place below everything: `cairn.__version__`, the REST client's
User-Agent and the scoring server's `/version` read it without importing the package's API."""

__version__ = "0.1.0"
