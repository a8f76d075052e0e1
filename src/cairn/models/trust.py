"""Whether a model file may be unpickled, and its shipped code imported.

Unpickling (pickle, cloudpickle) runs whatever code the file names, so loading a model is
as trusted as running its author's script. So does the `code/` folder a model ships
(`code_paths`): it is put first on sys.path, where its modules shadow any library the
loader imports next (skops, onnxruntime, …); a process that refuses pickles refuses it too,
whatever the model's format. Cairn loads pickles by default, as MLflow does,
but says so once per process in the `cairn.models` log; `CAIRN_ALLOW_PICKLE=false` (or
MLflow's `MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false`) refuses them. The notice is a log
record, not a `warnings.warn`: a warning would turn into an error under `-W error` and
break a caller that already decided to trust its models.
"""

from __future__ import annotations

import logging
import threading

from cairn import env
from cairn.exceptions import PermissionDeniedError

log = logging.getLogger("cairn.models")
_lock = threading.Lock()
_warned = False


def check_pickle_allowed(source: str) -> None:
    """Raise if pickles are switched off; otherwise log the risk (the first time only).

    PermissionDeniedError, not InvalidParameterValueError: the request is well formed and the
    model is fine; a policy of this process forbids the operation, which is what 403 means.
    """
    global _warned
    if not env.allow_pickle():
        raise PermissionDeniedError(
            f"Refusing to unpickle the model at {source}: CAIRN_ALLOW_PICKLE is false. "
            "Unpickling runs code from the file; load only models you trust (set "
            "CAIRN_ALLOW_PICKLE=true), or save scikit-learn models with "
            "serialization_format='skops'."
        )
    with _lock:
        if _warned:
            return
        _warned = True
    log.warning(
        "Unpickling the model at %s: this runs code from the file, so load only models you "
        "trust (CAIRN_ALLOW_PICKLE=false refuses them; notice shown once per process).",
        source,
    )


def check_code_allowed(model_dir: str, folders: list[str]) -> None:
    """Raise before the model's shipped code reaches sys.path if pickles are switched off."""
    if folders and not env.allow_pickle():
        raise PermissionDeniedError(
            f"Refusing the code shipped with the model at {model_dir} ({', '.join(folders)}): "
            "CAIRN_ALLOW_PICKLE is false. Shipped code runs as soon as it is imported, like "
            "a pickle; load only models you trust (set CAIRN_ALLOW_PICKLE=true), or save the "
            "model without code_paths."
        )


def _reset_notice() -> None:
    """For tests: make the next load log the notice again."""
    global _warned
    with _lock:
        _warned = False
