"""What every integration's autologging shares (MLflow's `mlflow.utils.autologging_utils`).

- `settings`: each integration's switches (`log_models`, `disable`, `exclusive`, …), set by
  its `autolog()` and read at every patched call, so turning one off takes effect at once.
- `patching`: library methods wrapped so that a failure of the logging never breaks the
  user's call, and a call made inside another patched call (a pipeline's steps, a search's
  candidates) logs nothing of its own.
- `runs`: the run a patched call logs into: the active run, or one started for the call and
  ended FINISHED, or FAILED when training raised.
- `import_hooks`: an integration turned on before its library is imported patches it when
  the library is imported, so `cairn.autolog()` never imports a library for nothing.
- `training_data`: the dataset, input example and signature of what a model was fit on.
"""
