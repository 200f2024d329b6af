"""The server owner's config: what a LangGraph server serves, where its runs live, how many at once.

    SEAL_SERVE_CONFIG=serve.yaml langgraph dev --no-browser --allow-blocking

`langgraph.json` sets SEAL_SERVE_CONFIG to the repository's `serve.yaml`; without it the
defaults below are served. Nothing here can be set by a client: a request names a preset
from `presets` and the fields `seal_agent.jobs.serving.request` allows, and the run config
is the preset, then the owner's `config_file` and `config` (code, files, directories,
models: the owner's), then the request. Every problem is reported at once, at startup.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seal_agent.config import ConfigError, format_validation_error, read_yaml_mapping

CONFIG_ENV = "SEAL_SERVE_CONFIG"


class DomainServing(BaseModel):
    """What the server serves of one domain (`arc`: seal_arc, `knowledge`: seal_knowledge)."""

    model_config = ConfigDict(extra="forbid")

    presets: list[str] = Field(
        default_factory=lambda: ["smoke"], min_length=1,
        description="The presets a request's `preset` may name; the first is the default.",
    )
    config_file: str | None = Field(None, description="The owner's config layered over the preset, as --config.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The owner's config layered over config_file: model, data, tools, executor...",
    )
    limits: dict[str, float] = Field(
        default_factory=dict,
        description="Lower maxima for the fields a request may set, by dotted name under `config` (rounds, "
        "policy.candidates_per_task, data.tasks for a number of tasks, ...).",
    )


class ServerConfig(BaseModel):
    """The server owner's config (serve.yaml)."""

    model_config = ConfigDict(extra="forbid")

    run_root: str = Field(
        "runs/served", description="Every served run is RUN_ROOT/<domain>/<thread id> (relative: to the server's directory).",
    )
    max_concurrent_runs: int = Field(
        4, ge=1, le=1024, description="Runs going on at once; a run started beyond them is refused as busy.",
    )
    arc: DomainServing = Field(default_factory=DomainServing)
    knowledge: DomainServing = Field(default_factory=DomainServing)

    def domain(self, name: str) -> DomainServing:
        return self.arc if name == "arc" else self.knowledge


def load_server_config(path: str | Path | None = None) -> ServerConfig:
    """The owner's config from `path`, else from $SEAL_SERVE_CONFIG, else the defaults."""
    path = path or os.environ.get(CONFIG_ENV) or None
    if path is None:
        return ServerConfig()
    try:
        return ServerConfig.model_validate(read_yaml_mapping(Path(path)))
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, str(path))) from None
