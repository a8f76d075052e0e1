"""Who ran which code: the user, the entry point and its git checkout (MLflow's source tags).

Runs (`cairn.tracking`) and datasets built in code (`cairn.data`) both record it, so it sits
below both and imports neither.
"""
