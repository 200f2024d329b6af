"""Send a run's figures to the experiment tracker researchers already use (`--log-to`).

    seal run arc --preset smoke --log-to tensorboard        # events in RUN_DIR/tensorboard
    seal run arc --preset smoke --log-to mlflow             # the active MLflow tracking URI

Per round: every numeric figure of the round's summary (success rate, mean reward, valid
fraction, seconds, ...). Per candidate: reward, final training loss, data size, seconds.
Off by default; each tracker is an optional extra (`pip install -e ".[tensorboard]"`,
`".[mlflow]"`). A tracker is a plain object with three methods (`Tracker`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from seal_agent.inspect.run_view import data_size, final_loss
from seal_agent.run.directory import DB_FILE
from seal_agent.run.traces import TraceStore

TRACKERS = ("tensorboard", "mlflow")


class TrackerError(Exception):
    """A tracker that was asked for but cannot be used (its package is not installed)."""


class Tracker(Protocol):
    def log_round(self, figures: dict[str, float], round: int) -> None: ...
    def log_candidate(self, scalars: dict[str, float], step: int) -> None: ...
    def close(self) -> None: ...


class TensorBoardTracker:
    def __init__(self, log_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrackerError("--log-to tensorboard needs the tensorboard package: pip install tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log_round(self, figures: dict[str, float], round: int) -> None:
        for key, value in figures.items():
            self.writer.add_scalar(f"round/{key}", value, round)
        self.writer.flush()

    def log_candidate(self, scalars: dict[str, float], step: int) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(f"candidate/{key}", value, step)

    def close(self) -> None:
        self.writer.close()


class MLflowTracker:
    def __init__(self, run_name: str, params: dict[str, Any]):
        try:
            import mlflow
        except ImportError:
            raise TrackerError("--log-to mlflow needs the mlflow package: pip install mlflow") from None
        self.mlflow = mlflow
        mlflow.start_run(run_name=run_name)
        mlflow.log_params(params)

    def log_round(self, figures: dict[str, float], round: int) -> None:
        self.mlflow.log_metrics({f"round/{k}": v for k, v in figures.items()}, step=round)

    def log_candidate(self, scalars: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics({f"candidate/{k}": v for k, v in scalars.items()}, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as flat `section.key` parameters (lists as text)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_params(value, name + "."))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
    return flat


def open_trackers(names: list[str], run_dir: Path, config: dict[str, Any]) -> list[Tracker]:
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise TrackerError(f"unknown tracker {unknown[0]!r}; choose from {', '.join(TRACKERS)}")
    trackers: list[Tracker] = []
    for name in dict.fromkeys(names):
        if name == "tensorboard":
            trackers.append(TensorBoardTracker(run_dir / "tensorboard"))
        else:
            trackers.append(MLflowTracker(run_dir.name, flat_params(config)))
    return trackers


def numeric(figures: dict[str, Any]) -> dict[str, float]:
    """The numeric figures of a round summary (booleans as 0/1), without the round number itself."""
    return {k: float(v) for k, v in figures.items() if isinstance(v, (int, float)) and k != "round"}


class TrackerFeed:
    """Turns the graph's streamed updates into tracker calls (an `on_update` callback)."""

    def __init__(self, trackers: list[Tracker], run_dir: Path):
        self.trackers = trackers
        self.store = TraceStore(run_dir / DB_FILE)
        self.step = len(self.store.candidates())  # a resumed run continues the step count

    def __call__(self, node: str, update: dict[str, Any]) -> None:
        traced: dict[tuple[int, str], dict[int, dict[str, Any]]] = {}  # one trace read per task, not per candidate
        for result in update.get("results", []):
            key = (result["round"], result["task_id"])
            if key not in traced:
                traced[key] = {r["candidate"]: r for r in self.store.candidates(round=key[0], task_id=key[1])}
            row = traced[key].get(result["candidate"], result)
            scalars = {"reward": float(result["reward"]), "seconds": float(result.get("seconds") or 0.0)}
            if final_loss(row) is not None:
                scalars["final_loss"] = float(final_loss(row))
            if data_size(row) is not None:
                scalars["data_size"] = float(data_size(row))
            self.step += 1
            for tracker in self.trackers:
                tracker.log_candidate(scalars, self.step)
        for figures in update.get("rounds", []):
            for tracker in self.trackers:
                tracker.log_round(numeric(figures), figures["round"])
        for step in update.get("steps", []):  # continual knowledge runs
            for tracker in self.trackers:
                tracker.log_round({"mean_score_seen": sum(step["row"]) / len(step["row"])}, step["step"])

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()
        self.store.close()
