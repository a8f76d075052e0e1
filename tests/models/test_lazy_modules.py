"""The model modules are attributes of `cairn` but load only when first used."""

from __future__ import annotations

import subprocess
import sys


def test_model_modules_load_on_first_use() -> None:
    code = (
        "import sys, cairn\n"
        "heavy = ('sklearn', 'onnx', 'onnxruntime', 'numpy', 'cairn.pyfunc')\n"
        "before = [m for m in heavy if m in sys.modules]\n"
        "assert cairn.pyfunc.load_model is cairn.pyfunc.pyfunc_model.load_model\n"
        "assert cairn.sklearn.FLAVOR_NAME == 'sklearn' and cairn.onnx.FLAVOR_NAME == 'onnx'\n"
        "assert callable(cairn.models.infer_signature)\n"
        "print(','.join(before))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_integrations_load_on_first_use_and_import_no_library() -> None:
    """`cairn.autolog`, `cairn.xgboost`, `cairn.lightgbm`, `cairn.pytorch`,
    `cairn.transformers` and `cairn.optuna` are attributes of `cairn`; reaching them, and
    their `autolog`, imports none of their libraries."""
    code = (
        "import sys, cairn\n"
        "libraries = ('xgboost', 'lightgbm', 'torch', 'lightning', 'transformers', 'optuna',\n"
        "             'sklearn', 'cairn.integrations')\n"
        "before = [m for m in libraries if m in sys.modules]\n"
        "assert callable(cairn.autolog) and callable(cairn.sklearn.autolog)\n"
        "for name in ('xgboost', 'lightgbm', 'pytorch', 'transformers'):\n"
        "    assert callable(getattr(cairn, name).autolog), name\n"
        "assert cairn.optuna.CairnCallback.__name__ == 'CairnCallback'\n"
        "after = [m for m in libraries[:-1] if m in sys.modules]\n"
        "print(','.join(before) + '|' + ','.join(after))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "|"
