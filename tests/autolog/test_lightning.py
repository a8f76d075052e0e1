"""PyTorch Lightning: `cairn.pytorch.autolog()` on `Trainer.fit`, and `CairnLogger` on its
own. Tiny regressions (a Linear on 32 rows, 2-3 epochs, CPU); one autologged fit is shared
by the tests that only read what it logged."""

from __future__ import annotations

import logging
import warnings
from argparse import Namespace
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import cairn
import cairn.pytorch
from cairn.autologging import patching, settings
from cairn.entities import RunStatus
from cairn.exceptions import InvalidParameterValueError
from cairn.pytorch import autologging
from cairn.tracking import fluent, session

# Lightning's advice for real trainings, and its use of a torch API torch 2.13 deprecates:
# the libraries' warnings, not about what these tests check.
LIGHTNING_ADVICE = (
    r"ignore:.*(does not have many workers|smaller than the logging interval"
    r"|isinstance\(treespec, LeafSpec\)).*"
)
pytestmark = pytest.mark.filterwarnings(LIGHTNING_ADVICE)
EPOCHS = 3


class Regressor(L.LightningModule):
    def __init__(self, n_in: int = 3, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.linear = torch.nn.Linear(n_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"], momentum=0.5)


class Broken(Regressor):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        raise RuntimeError("the training step broke")


def data() -> tuple[DataLoader, DataLoader, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1
    train = DataLoader(TensorDataset(x, y), batch_size=8)
    val = DataLoader(TensorDataset(x[:16], y[:16]), batch_size=8)
    return train, val, x


def trainer(root: Path, **kwargs: Any) -> L.Trainer:
    options: dict[str, Any] = {
        "max_epochs": EPOCHS,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "default_root_dir": str(root),
        "accelerator": "cpu",
        "log_every_n_steps": 1,
        **kwargs,
    }
    return L.Trainer(**options)


class WarningRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_patches_left(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No patch outlives its test, and no test's logging failed quietly."""
    caplog.set_level(logging.WARNING, logger="cairn.autolog")
    yield
    settings.reset()
    patching.revert(autologging.INTEGRATION)
    assert [r.getMessage() for r in caplog.records if r.name == "cairn.autolog"] == []


@dataclass(frozen=True)
class Trained:
    """What one autologged fit left, read back through `client`."""

    tracking_uri: str
    client: cairn.Client
    run_id: str
    final_metrics: dict[str, float]
    rows: np.ndarray
    predictions: np.ndarray
    autolog_warnings: list[str]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """One `autolog()` fit (3 epochs, checkpoints on), in a store of its own."""
    folder = tmp_path_factory.mktemp("autologged-fit")
    records = WarningRecords()
    logging.getLogger("cairn.autolog").addHandler(records)
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.filterwarnings("ignore", LIGHTNING_ADVICE.split(":", 1)[1])
        patch.chdir(folder)
        for name in ("CAIRN_TRACKING_URI", "CAIRN_EXPERIMENT_NAME", "CAIRN_EXPERIMENT_ID"):
            patch.delenv(name, raising=False)
        patch.setenv("CAIRN_CAPTURE_SOURCE", "false")
        patch.setenv("CAIRN_CAPTURE_ENVIRONMENT", "false")
        session.reset()
        try:
            cairn.pytorch.autolog()
            train, val, x = data()
            torch.manual_seed(0)
            model = Regressor()
            fitted = trainer(folder)
            fitted.fit(model, train, val)
            final = {k: float(v) for k, v in fitted.callback_metrics.items()}
            with torch.no_grad():
                predictions = model(x).numpy()
            uri = fluent.get_tracking_uri()
            run = fluent.last_active_run()
            assert run is not None
            yield Trained(
                uri, cairn.Client(uri), run.info.run_id, final, x.numpy(), predictions,
                records.messages,
            )  # fmt: skip
        finally:
            logging.getLogger("cairn.autolog").removeHandler(records)
            settings.reset()
            patching.revert(autologging.INTEGRATION)
            session.reset()


def test_autolog_fit_logs_params_into_a_finished_run(trained: Trained) -> None:
    run = trained.client.get_run(trained.run_id)

    assert trained.autolog_warnings == []
    assert run.info.status == RunStatus.FINISHED.value
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    params = run.data.params
    assert params["epochs"] == str(EPOCHS)
    assert params["optimizer_name"] == "SGD"
    assert params["lr"] == "0.05"
    assert params["momentum"] == "0.5"
    assert params["n_in"] == "3"  # the module's hparams


def test_autolog_logs_each_metric_per_epoch_ending_at_the_trainers(trained: Trained) -> None:
    for key in ("train_loss", "val_loss"):
        history = trained.client.get_metric_history(trained.run_id, key)
        assert [m.step for m in history] == list(range(EPOCHS))
        assert history[-1].value == pytest.approx(trained.final_metrics[key], rel=1e-6)
    losses = [m.value for m in trained.client.get_metric_history(trained.run_id, "train_loss")]
    assert losses[-1] < losses[0]  # it trained


def test_autolog_logged_model_loads_back_and_predicts_the_same(trained: Trained) -> None:
    run = trained.client.get_run(trained.run_id)
    [output] = run.outputs.model_outputs
    model_uri = f"models:/{output.model_id}"
    cairn.set_tracking_uri(trained.tracking_uri)
    try:
        module = cairn.pytorch.load_model(model_uri)
        predicted = cairn.pyfunc.load_model(model_uri).predict(trained.rows)
    finally:
        session.reset()
    assert isinstance(module, Regressor)
    with torch.no_grad():
        again = module(torch.from_numpy(trained.rows)).numpy()
    np.testing.assert_allclose(again, trained.predictions, rtol=1e-6)
    np.testing.assert_allclose(predicted, trained.predictions, rtol=1e-6)


def test_autolog_logs_the_best_checkpoint_and_the_summary(trained: Trained) -> None:
    run = trained.client.get_run(trained.run_id)
    top = {f.path for f in trained.client.list_artifacts(trained.run_id)}
    inside = {f.path for f in trained.client.list_artifacts(trained.run_id, "checkpoints")}

    assert "model_summary.txt" in top
    assert inside == {
        "checkpoints/latest_checkpoint.pth",
        "checkpoints/latest_checkpoint_metrics.json",
    }
    assert run.data.tags["mlflow.latest_checkpoint_artifact"] == (
        "checkpoints/latest_checkpoint.pth"
    )


def the_run() -> cairn.entities.Run:
    """The one run of the test's store."""
    runs = cairn.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1
    return runs[0]


def test_autolog_logs_early_stopping(workdir: Path) -> None:
    cairn.pytorch.autolog(log_models=False, checkpoint=False)
    train, val, _ = data()
    # No improvement is ever big enough: training stops after epoch 1 and restores epoch 0.
    stopper = L.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=100.0)

    trainer(workdir, max_epochs=5, callbacks=[stopper]).fit(Regressor(), train, val)

    run = the_run()
    params = run.data.params
    assert (params["monitor"], params["mode"], params["patience"]) == ("val_loss", "min", "1")
    assert params["stopped_epoch"] == "0"  # as MLflow: the value when training starts
    assert run.data.metrics["stopped_epoch"] == stopper.stopped_epoch == 1
    assert run.data.metrics["restored_epoch"] == 0
    assert run.data.metrics["best_score"] == pytest.approx(float(stopper.best_score))
    assert [m.step for m in cairn.Client().get_metric_history(run.info.run_id, "val_loss")] == [
        0,
        1,
    ]
    assert run.outputs is None or not run.outputs.model_outputs  # log_models=False


def test_checkpoint_switches_are_checked_only_when_checkpoints_are_on(workdir: Path) -> None:
    # Without checkpoints, MLflow reads no checkpoint_* switch: none may be refused.
    cairn.pytorch.autolog(checkpoint=False, checkpoint_monitor=None, checkpoint_save_freq=0)
    current = settings.get(autologging.INTEGRATION)
    assert current is not None and current.option("checkpoint") is False

    with pytest.raises(InvalidParameterValueError, match="checkpoint_monitor"):
        cairn.pytorch.autolog(checkpoint=True, checkpoint_monitor=None)
    with pytest.raises(InvalidParameterValueError, match="checkpoint_save_freq"):
        cairn.pytorch.autolog(checkpoint=True, checkpoint_save_freq=0)


def test_disabled_autolog_logs_nothing(workdir: Path) -> None:
    cairn.pytorch.autolog()
    cairn.pytorch.autolog(disable=True)
    train, val, _ = data()

    trainer(workdir, max_epochs=1).fit(Regressor(), train, val)

    assert cairn.search_runs(search_all_experiments=True, output_format="list") == []
    assert not hasattr(L.Trainer.fit, "__cairn_original__")


def test_a_failing_fit_ends_its_run_failed_with_the_original_error(workdir: Path) -> None:
    cairn.pytorch.autolog(checkpoint=False)
    train, val, _ = data()

    with pytest.raises(RuntimeError, match="the training step broke"):
        trainer(workdir, max_epochs=1, num_sanity_val_steps=0).fit(Broken(), train, val)

    run = the_run()
    assert run.info.status == RunStatus.FAILED.value
    assert run.data.params["optimizer_name"] == "SGD"  # logged before the step failed
    assert cairn.active_run() is None


def test_cairn_logger_on_its_own_logs_hparams_and_metrics_at_their_steps(
    workdir: Path,
) -> None:
    logger = cairn.pytorch.CairnLogger(
        experiment_name="lightning", run_name="by-hand", tags={"team": "vision"}
    )

    logger.log_hyperparams(Namespace(lr=0.1, layers={"hidden": 8}))
    logger.log_metrics({"loss": torch.tensor(0.5), "acc": 0.75}, step=7)
    logger.log_metrics({"loss": torch.tensor(0.25)}, step=8)
    logger.finalize("failed")

    run = cairn.get_run(logger.run_id)
    assert cairn.get_experiment(run.info.experiment_id).name == "lightning"
    assert run.info.run_name == "by-hand"
    assert run.data.tags["team"] == "vision"
    assert run.data.params == {"lr": "0.1", "layers/hidden": "8"}
    history = cairn.Client().get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(7, 0.5), (8, 0.25)]
    assert run.data.metrics["acc"] == 0.75
    assert run.info.status == RunStatus.FAILED.value
    assert cairn.active_run() is None


def test_cairn_logger_as_the_trainers_logger(workdir: Path) -> None:
    train, val, _ = data()
    logger = cairn.pytorch.CairnLogger(experiment_name="lightning", log_model=True)
    best = L.callbacks.ModelCheckpoint(monitor="val_loss")
    fitted = trainer(
        workdir, max_epochs=2, logger=logger, callbacks=[best], enable_checkpointing=True
    )

    fitted.fit(Regressor(lr=0.1), train, val)

    run = cairn.get_run(logger.run_id)
    assert run.info.status == RunStatus.FINISHED.value
    assert run.data.params["lr"] == "0.1" and run.data.params["n_in"] == "3"
    client = cairn.Client()
    # Lightning logs epoch-level values at the step that ends each epoch (4 batches each).
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [3, 7]
    assert history[-1].value == pytest.approx(float(fitted.callback_metrics["train_loss"]))
    epochs = client.get_metric_history(run.info.run_id, "epoch")
    assert sorted({(m.step, m.value) for m in epochs}) == [(3, 0.0), (7, 1.0)]
    checkpoints = [f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")]
    assert checkpoints == [f"checkpoints/{Path(best.best_model_path).name}"]
    assert cairn.active_run() is None
