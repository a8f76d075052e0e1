"""The Cairn server: MLflow's REST API over the same stores the library uses."""
