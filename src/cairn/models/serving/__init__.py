"""Serving models over MLflow's scoring protocol: `payloads` (request bodies to model
input), `predictions` (model output to JSON) and `app` (the Starlette app of
`cairn models serve`)."""
