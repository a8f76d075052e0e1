"""Metric values beyond Python floats: NumPy scalars and one-element arrays, and PyTorch
tensors, logged as they are (no `.item()` in the training loop) and stored as floats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import cairn
from cairn.exceptions import InvalidParameterValueError
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.tracking.batcher import MetricBatcher


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in cairn.Client().get_metric_history(run_id, key)]


def test_a_tensor_loss_logged_every_step_equals_its_item(workdir: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    expected = []
    with cairn.start_run() as run:
        for step in range(5):
            loss = torch.nn.functional.mse_loss(model(x), y)
            cairn.log_metric("loss", loss, step=step)
            expected.append((step, loss.item()))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        cairn.flush()
        assert _history(run.info.run_id, "loss") == expected


def test_log_metrics_takes_a_dict_of_tensors_arrays_and_numpy_scalars(workdir: Path) -> None:
    values = {
        "tensor": torch.tensor(0.25),
        "one_element_tensor": torch.tensor([1.5], dtype=torch.float64),
        "int_tensor": torch.tensor(3),
        "array": np.array(0.75),
        "float32": np.float32(0.5),
        "int64": np.int64(7),
    }
    with cairn.start_run() as run:
        cairn.log_metrics(values, step=2)
    data = cairn.get_run(run.info.run_id).data.metrics
    assert data == {
        "tensor": 0.25,
        "one_element_tensor": 1.5,
        "int_tensor": 3.0,
        "array": 0.75,
        "float32": 0.5,
        "int64": 7.0,
    }


def test_a_tensor_changed_in_place_after_logging_keeps_the_logged_value(workdir: Path) -> None:
    running = torch.tensor(1.0)
    with cairn.start_run() as run:
        cairn.log_metric("running", running, step=0)
        running += 41.0  # an accumulator, updated in place by the next steps
        cairn.log_metric("running", running, step=1)
    assert _history(run.info.run_id, "running") == [(0, 1.0), (1, 42.0)]


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (torch.ones(3), "shape (3,)"),
        (torch.tensor(True), "torch.bool"),
        (torch.tensor(1 + 2j), "complex"),
        (np.zeros((2, 2)), "shape (2, 2)"),
        (np.array(True), "shape ()"),
        (np.array("a"), "shape ()"),
    ],
)
def test_tensors_and_arrays_that_are_not_one_real_number_are_refused(
    workdir: Path, value: object, what: str
) -> None:
    with cairn.start_run() as run:
        cairn.log_metric("kept", 1.0)
        with pytest.raises(InvalidParameterValueError, match="must be a number") as raised:
            cairn.log_metric("bad", value)
        assert what in str(raised.value)
        assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
        with pytest.raises(InvalidParameterValueError):
            cairn.log_metrics({"also_bad": value})
    assert cairn.get_run(run.info.run_id).data.metrics == {"kept": 1.0}  # nothing lost


def test_synchronous_and_linked_points_read_a_tensor_at_once(workdir: Path) -> None:
    with cairn.start_run() as run:
        cairn.log_metric("sync", torch.tensor(2.5), synchronous=True)
        assert cairn.get_run(run.info.run_id).data.metrics == {"sync": 2.5}


def test_the_writer_reads_deferred_values_before_storing(
    sqlite_store: SqlTrackingStore,
) -> None:
    """Values queued unread (as a CUDA tensor's copy is) are read by the writer: the store
    only ever sees floats."""
    run_id = sqlite_store.create_run("0", "tester", 0, [], "deferred").info.run_id
    batcher = MetricBatcher(sqlite_store.log_metric_points, 3600.0)
    try:
        batcher.deferred = True
        batcher.log((run_id, "m", torch.tensor(0.5), 1, 0))  # type: ignore[arg-type]
        batcher.log((run_id, "m", 1.5, 2, 1))
        batcher.flush()
    finally:
        batcher.close()
    stored = [(m.step, m.value) for m in sqlite_store.get_metric_history(run_id, "m")]
    assert stored == [(0, 0.5), (1, 1.5)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_tensor_is_read_by_the_writer_not_the_training_loop(workdir: Path) -> None:
    from cairn.tracking.metric_values import DeviceValue, metric_value

    loss = torch.tensor(0.125, device="cuda") * 2
    value = metric_value("loss", loss)
    assert isinstance(value, DeviceValue)
    with cairn.start_run() as run:
        cairn.log_metric("loss", loss, step=0)
    assert _history(run.info.run_id, "loss") == [(0, 0.25)]
