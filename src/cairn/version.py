"""Cairn's version, in one place below everything: `cairn.__version__`, the REST client's
User-Agent and the scoring server's `/version` read it without importing the package's API."""

__version__ = "0.1.0"

# The MLflow release whose REST API the server speaks; its `/version` answers this, as the
# mlflow client expects.
MLFLOW_COMPATIBLE_VERSION = "3.18.0"
