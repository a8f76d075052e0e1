"""cairn.transformers: CairnCallback and autolog on a tiny BERT trained on CPU, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

import cairn
import cairn.transformers
from cairn.autologging import patching, settings
from cairn.transformers import CairnCallback, logged, patches

SUBPROCESS_SECONDS = 180


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv(logged.LOG_MODEL_ENV, raising=False)


@pytest.fixture(autouse=True)
def no_patches_left() -> Iterator[None]:
    yield
    settings.reset()
    patching.revert(patches.INTEGRATION)
    patching.revert(patches.FAILURE_GUARD)


class RandomTokens(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Random token ids and labels; `fail_at` makes fetching that item raise."""

    def __init__(self, rows: int, seed: int = 0, fail_at: int | None = None) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 50, (rows, 6), generator=generator)
        self.labels = torch.randint(0, 2, (rows,), generator=generator)
        self.fail_at = fail_at

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index == self.fail_at:
            raise RuntimeError("a broken example")
        return {"input_ids": self.ids[index], "labels": self.labels[index]}


def tiny_model() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
        max_position_embeddings=16,
    )
    return BertForSequenceClassification(config)


def make_trainer(
    output: Path, callbacks: list[Any] | None = None, train: Any = None, **arguments: Any
) -> Trainer:
    chosen = {
        "num_train_epochs": 2,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "eval_strategy": "epoch",
        "save_strategy": "no",
        "use_cpu": True,
        "report_to": "none",
        "disable_tqdm": True,
        **arguments,
    }
    args = TrainingArguments(output_dir=str(output), **chosen)
    return Trainer(
        model=tiny_model(),
        args=args,
        train_dataset=train if train is not None else RandomTokens(8),
        eval_dataset=RandomTokens(4, seed=1),
        callbacks=callbacks,
    )


def cairn_callbacks(trainer: Trainer) -> list[CairnCallback]:
    return [c for c in trainer.callback_handler.callbacks if isinstance(c, CairnCallback)]


def history(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in cairn.Client().get_metric_history(run_id, key)]


def logged_points(trainer: Trainer, key: str) -> list[tuple[int, float]]:
    return [(e["step"], e[key]) for e in trainer.state.log_history if key in e]


def test_callback_logs_arguments_metrics_and_model_configuration(workdir: Path) -> None:
    callback = CairnCallback()
    trainer = make_trainer(workdir / "out", callbacks=[callback])
    trainer.train()

    assert callback.run_id is not None
    run = cairn.get_run(callback.run_id)
    assert run.info.status == "FINISHED"
    assert cairn.active_run() is None
    params = run.data.params
    assert params["learning_rate"] == str(trainer.args.learning_rate)
    assert params["num_train_epochs"] == "2"
    assert params["output_dir"] == str(workdir / "out")
    assert params["report_to"] == str(trainer.args.to_dict()["report_to"])
    assert len(params) == len(trainer.args.to_dict())

    loss = history(run.info.run_id, "loss")
    assert loss == logged_points(trainer, "loss")
    assert [step for step, _ in loss] == [1, 2, 3, 4]
    assert history(run.info.run_id, "eval_loss") == logged_points(trainer, "eval_loss")
    assert [step for step, _ in history(run.info.run_id, "eval_loss")] == [2, 4]
    assert history(run.info.run_id, "learning_rate") == logged_points(trainer, "learning_rate")
    assert run.data.metrics["train_loss"] == trainer.state.log_history[-1]["train_loss"]
    assert run.data.metrics["epoch"] == 2.0

    config = cairn.artifacts.load_dict(f"runs:/{run.info.run_id}/{logged.MODEL_CONFIG_FILE}")
    assert config["hidden_size"] == 8
    assert config["vocab_size"] == 50
    listed = {a.path for a in cairn.Client().list_artifacts(run.info.run_id)}
    assert logged.MODEL_ARTIFACT_PATH not in listed  # no model unless asked


def test_evaluation_after_training_goes_to_the_training_run(workdir: Path) -> None:
    callback = CairnCallback()
    trainer = make_trainer(workdir / "out", callbacks=[callback])
    trainer.train()
    results = trainer.evaluate()
    cairn.flush()  # metrics are buffered; the run has ended already

    assert callback.run_id is not None
    points = history(callback.run_id, "eval_loss")
    assert points[-1] == (trainer.state.global_step, results["eval_loss"])
    assert cairn.get_run(callback.run_id).data.metrics["eval_runtime"] == results["eval_runtime"]
    assert len(cairn.search_runs(output_format="list")) == 1


def test_an_active_run_receives_the_training_and_stays_open(workdir: Path) -> None:
    callback = CairnCallback()
    trainer = make_trainer(workdir / "out", callbacks=[callback])
    with cairn.start_run() as run:
        trainer.train()
        active = cairn.active_run()
        assert active is not None and active.info.run_id == run.info.run_id
        assert cairn.get_run(run.info.run_id).info.status == "RUNNING"
    stored = cairn.get_run(run.info.run_id)
    assert callback.run_id == run.info.run_id
    assert history(run.info.run_id, "loss") == logged_points(trainer, "loss")
    assert "mlflow.autologging" not in stored.data.tags
    assert stored.info.status == "FINISHED"


def test_a_failing_training_ends_the_run_failed(workdir: Path) -> None:
    callback = CairnCallback()
    trainer = make_trainer(
        workdir / "out", callbacks=[callback], train=RandomTokens(8, fail_at=5), seed=3
    )
    with pytest.raises(RuntimeError, match="a broken example"):
        trainer.train()

    assert callback.run_id is not None
    run = cairn.get_run(callback.run_id)
    assert run.info.status == "FAILED"
    assert cairn.active_run() is None
    assert "learning_rate" in run.data.params


def test_log_model_stores_a_model_that_from_pretrained_loads(workdir: Path) -> None:
    callback = CairnCallback(log_model=True)
    trainer = make_trainer(workdir / "out", callbacks=[callback])
    trainer.train()

    assert callback.run_id is not None
    folder = cairn.artifacts.download_artifacts(
        run_id=callback.run_id, artifact_path=logged.MODEL_ARTIFACT_PATH
    )
    assert {"config.json", "model.safetensors"} <= set(os.listdir(folder))
    loaded = BertForSequenceClassification.from_pretrained(folder)
    trained = trainer.model.state_dict()
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, trained[name]), name


def test_the_environment_asks_for_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CairnCallback().log_model is False
    monkeypatch.setenv(logged.LOG_MODEL_ENV, "true")
    assert CairnCallback().log_model is True
    assert CairnCallback(log_model=False).log_model is False


def test_long_values_are_cut_to_the_param_limit() -> None:
    from cairn.store.validation import MAX_PARAM_VALUE_LENGTH

    cut = logged.params({"long": "x" * (MAX_PARAM_VALUE_LENGTH + 50), "short": [1, 2]})
    assert len(cut["long"]) == MAX_PARAM_VALUE_LENGTH
    assert cut["long"].endswith("...")
    assert cut["short"] == "[1, 2]"


def test_only_numbers_become_metrics() -> None:
    logs = {
        "loss": 0.5,
        "step_flag": True,
        "note": "text",
        "eval_f1(macro)": 1,
        "t": torch.tensor(2.0),
    }
    assert logged.metrics(logs) == {"loss": 0.5, "eval_f1_macro_": 1.0, "t": 2.0}


def test_autolog_adds_one_callback_and_logs_a_finished_run(workdir: Path) -> None:
    cairn.transformers.autolog(extra_tags={"team": "nlp"})
    trainer = make_trainer(workdir / "out")
    assert len(cairn_callbacks(trainer)) == 1
    own = CairnCallback()
    with_own = make_trainer(workdir / "own", callbacks=[own])
    assert cairn_callbacks(with_own) == [own]

    trainer.train()
    run_id = cairn_callbacks(trainer)[0].run_id
    assert run_id is not None
    run = cairn.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "transformers"
    assert run.data.tags["team"] == "nlp"
    assert history(run_id, "loss") == logged_points(trainer, "loss")
    listed = {a.path for a in cairn.Client().list_artifacts(run_id)}
    assert logged.MODEL_ARTIFACT_PATH not in listed  # log_models=False, as MLflow's default


def test_autolog_ends_the_run_failed_when_train_raises(workdir: Path) -> None:
    cairn.transformers.autolog()
    trainer = make_trainer(workdir / "out", train=RandomTokens(8, fail_at=2), seed=3)
    with pytest.raises(RuntimeError, match="a broken example"):
        trainer.train()
    run_id = cairn_callbacks(trainer)[0].run_id
    assert run_id is not None
    assert cairn.get_run(run_id).info.status == "FAILED"
    assert cairn.active_run() is None


def test_autolog_log_models_logs_the_model(workdir: Path) -> None:
    cairn.transformers.autolog(log_models=True)
    trainer = make_trainer(workdir / "out", num_train_epochs=1, eval_strategy="no")
    trainer.train()
    run_id = cairn_callbacks(trainer)[0].run_id
    assert run_id is not None
    listed = {a.path for a in cairn.Client().list_artifacts(run_id, logged.MODEL_ARTIFACT_PATH)}
    assert f"{logged.MODEL_ARTIFACT_PATH}/model.safetensors" in listed


def test_autolog_disable_removes_the_patch_and_silences_earlier_trainers(workdir: Path) -> None:
    cairn.transformers.autolog()
    earlier = make_trainer(workdir / "earlier", num_train_epochs=1, eval_strategy="no")
    cairn.transformers.autolog(disable=True)
    assert cairn_callbacks(make_trainer(workdir / "later")) == []

    earlier.train()
    assert cairn.search_runs(output_format="list") == []


def test_autolog_exclusive_keeps_out_of_the_users_run(workdir: Path) -> None:
    cairn.transformers.autolog(exclusive=True)
    trainer = make_trainer(workdir / "out", num_train_epochs=1, eval_strategy="no")
    with cairn.start_run() as run:
        trainer.train()
    stored = cairn.get_run(run.info.run_id)
    assert stored.data.params == {}
    assert stored.data.metrics == {}
    assert len(cairn.search_runs(output_format="list")) == 1


def test_supported_versions() -> None:
    assert patches.supported("4.57.1")
    assert patches.supported("5.25.0")
    assert not patches.supported("4.20.0")
    assert not patches.supported("6.1.0")


def test_import_is_light_and_autolog_patches_the_trainer_on_import(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import cairn.transformers
        assert "transformers" not in sys.modules and "torch" not in sys.modules
        cairn.transformers.autolog()
        assert "transformers" not in sys.modules
        from transformers import Trainer
        print(hasattr(Trainer.__init__, "__cairn_original__"))
        """
    )
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
