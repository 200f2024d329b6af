"""What a client may set in a served run: an explicit allow-list, and the run config it gives.

A served request is untrusted input from a stranger, not a config file. Its JSON context is
`{"preset": NAME, "config": {...}}`, where `config` holds only the fields below, each within
bounds (and within the owner's lower `limits`):

    seal_arc        rounds, seed, data.tasks (ids from the server's data), policy.candidates_per_task,
                    policy.temperature / top_p / max_new_tokens / sft_learning_rate / sft_epochs,
                    ttt.default_learning_rate / default_epochs / default_strategy,
                    tools.vocabulary, eval.strategy
    seal_knowledge  rounds, seed, passages_per_round, data.limit, policy.candidates_per_passage,
                    policy.temperature / top_p / max_new_tokens / prompt / prompt_form /
                    sft_learning_rate / sft_epochs, update.epochs / learning_rate / seeds, reward.kind

Everything that loads code (tools.modules), instantiates a class (a chat model's class_path),
names a file or a directory (run_dir, data.path, policy_checkpoint) or picks a model
(model.*) is the server owner's (`seal_agent.jobs.serving.server_config`). A request with
anything else, a wrong type (no "3" for 3), a value out of bounds or a task the server's
data lacks is refused with `ServedRequestError`, which names every field, before anything
is built. LangGraph's server shows a ValueError's message to the client; other errors (the
owner's) only in its log.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from seal_agent.arc.config import RunConfig
from seal_agent.config import MAX_SEED, ConfigError, deep_merge, preset_dict, read_yaml_mapping
from seal_agent.knowledge.config import PROMPTS, KnowledgeRunConfig
from seal_agent.jobs.serving.server_config import DomainServing, ServerConfig

SCHEMAS = {"arc": RunConfig, "knowledge": KnowledgeRunConfig}
MAX_REQUEST_BYTES = 64 * 1024  # a valid request is well under 2 KiB
MAX_PROBLEMS_SHOWN = 20


class ServedRequestError(ValueError):
    """A served request refused; the message names each field and why (shown to the client)."""


class _Choice(BaseModel):
    # strict: JSON types as they are ("3" is not 3); no inf or NaN; unknown keys refused.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
LearningRate = dict(gt=0, le=1)


class ArcData(_Choice):
    tasks: list[TaskId] | None = Field(None, min_length=1, max_length=64,
                                    description="Task ids from the server's data; none: the preset's.")


class ArcPolicy(_Choice):
    candidates_per_task: int | None = Field(None, ge=1, le=64, description="K self-edits per task per round.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature; 0 is greedy.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling.")
    max_new_tokens: int | None = Field(None, ge=8, le=4096, description="Token budget of one self-edit.")
    sft_learning_rate: float | None = Field(None, **LearningRate, description="ReST-EM fine-tuning learning rate.")
    sft_epochs: int | None = Field(None, ge=1, le=20, description="ReST-EM fine-tuning epochs.")


class ArcTTT(_Choice):
    default_learning_rate: float | None = Field(None, **LearningRate, description="TTT learning rate when a self-edit sets none.")
    default_epochs: int | None = Field(None, ge=1, le=20, description="TTT epochs when a self-edit sets none.")
    default_strategy: Literal["all_tokens", "output_tokens"] | None = Field(None, description="TTT loss when a self-edit sets none.")


class ArcTools(_Choice):
    vocabulary: Literal["seal", "open"] | None = Field(None, description="The self-edit vocabulary (no modules: the owner's).")


class ArcEval(_Choice):
    strategy: Literal["vote", "greedy"] | None = Field(None, description="vote: pass@2 by voting; greedy: pass@1.")


class ServedArcConfig(_Choice):
    """The fields of an ARC run config a client may set (the rest is the preset's and the owner's)."""

    rounds: int | None = Field(None, ge=1, le=20, description="ReST-EM rounds.")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="The run's seed.")
    data: ArcData = Field(default_factory=ArcData)
    policy: ArcPolicy = Field(default_factory=ArcPolicy)
    ttt: ArcTTT = Field(default_factory=ArcTTT)
    tools: ArcTools = Field(default_factory=ArcTools)
    eval: ArcEval = Field(default_factory=ArcEval)


class KnowledgeData(_Choice):
    limit: int | None = Field(None, ge=1, le=100_000, description="Use only the first N passages of the server's data.")


class KnowledgePolicy(_Choice):
    candidates_per_passage: int | None = Field(None, ge=1, le=32, description="k self-edits per passage.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature; 0 is greedy.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling.")
    max_new_tokens: int | None = Field(None, ge=8, le=4096, description="Token budget of one self-edit.")
    prompt: Literal[PROMPTS] | None = Field(None, description="Self-edit prompt.")  # type: ignore[valid-type]
    prompt_form: Literal["full", "worked", "compact"] | None = Field(None, description="How the prompt is laid out.")
    sft_learning_rate: float | None = Field(None, **LearningRate, description="ReST-EM fine-tuning learning rate.")
    sft_epochs: int | None = Field(None, ge=1, le=20, description="ReST-EM fine-tuning epochs.")


class KnowledgeUpdate(_Choice):
    epochs: int | None = Field(None, ge=1, le=50, description="Epochs of each inner update.")
    learning_rate: float | None = Field(None, **LearningRate, description="Inner update learning rate.")
    seeds: int | None = Field(None, ge=1, le=5, description="Update seeds per self-edit, rewards averaged.")


class KnowledgeReward(_Choice):
    kind: Literal["loglik", "exact_match", "f1"] | None = Field(None, description="The reward (a judge is the owner's).")


class ServedKnowledgeConfig(_Choice):
    """The fields of a knowledge run config a client may set (mode single; the rest is the owner's)."""

    rounds: int | None = Field(None, ge=1, le=20, description="ReST-EM rounds.")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="The run's seed.")
    passages_per_round: int | None = Field(None, ge=1, le=200, description="Fresh passages per round.")
    data: KnowledgeData = Field(default_factory=KnowledgeData)
    policy: KnowledgePolicy = Field(default_factory=KnowledgePolicy)
    update: KnowledgeUpdate = Field(default_factory=KnowledgeUpdate)
    reward: KnowledgeReward = Field(default_factory=KnowledgeReward)


class ServedArcRequest(_Choice):
    """The JSON context of a seal_arc run: a preset the server serves, and the fields a client may set."""

    preset: str | None = Field(None, max_length=64, description="One of the presets the server serves; none: its first.")
    config: ServedArcConfig = Field(default_factory=ServedArcConfig, description="Layered over the preset and the owner's config.")


class ServedKnowledgeRequest(_Choice):
    """The JSON context of a seal_knowledge run: a preset the server serves, and the fields a client may set."""

    preset: str | None = Field(None, max_length=64, description="One of the presets the server serves; none: its first.")
    config: ServedKnowledgeConfig = Field(default_factory=ServedKnowledgeConfig,
                                          description="Layered over the preset and the owner's config.")


REQUESTS = {"arc": ServedArcRequest, "knowledge": ServedKnowledgeRequest}


def allowed_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The dotted names a client may set in `model` (its leaves)."""
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += allowed_fields(annotation, f"{prefix}{name}.")
        else:
            names.append(f"{prefix}{name}")
    return names


def _refusal(problems: list[str], domain: str) -> ServedRequestError:
    allowed = ", ".join(allowed_fields(REQUESTS[domain]))
    shown = problems[:MAX_PROBLEMS_SHOWN] + ([f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more"]
                                             if len(problems) > MAX_PROBLEMS_SHOWN else [])
    return ServedRequestError(
        f"request refused: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in shown)
        + f"\nA client may set: {allowed}. Code, files, directories and models are the server's own."
    )


def _problems(err: ValidationError) -> list[str]:
    problems = []
    for problem in err.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in problem["loc"]) or "(the request)"
        message = "not a field a client may set" if problem["type"] == "extra_forbidden" else problem["msg"]
        problems.append(f"{field}: {message}")
    return problems


def parse_request(domain: str, raw: Any, server: ServerConfig) -> ServedArcRequest | ServedKnowledgeRequest:
    """The request if everything in it is allowed; else `ServedRequestError` naming each field."""
    if raw is None:
        raw = {}
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_none=True)
    if not isinstance(raw, dict):
        raise _refusal([f"(the request): a JSON object is expected, not {type(raw).__name__}"], domain)
    try:
        size = len(json.dumps(raw))
    except (TypeError, ValueError, RecursionError):
        raise _refusal(["(the request): not plain JSON"], domain) from None
    if size > MAX_REQUEST_BYTES:
        raise _refusal([f"(the request): {size:,} bytes of JSON; a request is at most {MAX_REQUEST_BYTES:,}"], domain)
    problems, request = [], None
    try:
        request = REQUESTS[domain].model_validate(raw)
    except ValidationError as err:
        problems += _problems(err)
    serving = server.domain(domain)
    preset = raw.get("preset")
    if isinstance(preset, str) and len(preset) <= 64 and preset not in serving.presets:
        problems.append(f"preset: {preset!r} is not served here; choose one of: {', '.join(serving.presets)}")
    if request is not None:
        problems += _over_limits(request.config, serving.limits)
    if problems:
        raise _refusal(problems, domain)
    return request


def _over_limits(config: BaseModel, limits: dict[str, float]) -> list[str]:
    problems = []
    for name, limit in limits.items():
        value: Any = config
        for part in name.split("."):
            value = getattr(value, part, None)
        size = len(value) if isinstance(value, list) else value
        if size is not None and size > limit:
            what = f"{size} items" if isinstance(value, list) else str(value)
            problems.append(f"config.{name}: {what}, over this server's limit of {limit:g}")
    return problems


def owner_layers(domain: str, preset: str, serving: DomainServing) -> dict[str, Any]:
    """The preset, then the owner's config file, then the owner's inline config: all but the request."""
    schema = SCHEMAS[domain]
    layers = preset_dict(preset, schema.preset_prefix, schema.presets)
    layers["preset"] = preset
    if serving.config_file:
        layers = deep_merge(layers, read_yaml_mapping(Path(serving.config_file)))
    return deep_merge(layers, serving.config)


def _pruned(values: dict[str, Any]) -> dict[str, Any]:
    """`values` without the sections a request left empty."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _pruned(value)
            if not value:
                continue
        out[key] = value
    return out


def served_config(domain: str, request: ServedArcRequest | ServedKnowledgeRequest, server: ServerConfig):
    """The run config of a served request: the owner's layers, then the request's allowed fields."""
    serving = server.domain(domain)
    preset = request.preset or serving.presets[0]
    overrides = _pruned(request.config.model_dump(exclude_none=True))
    layers = deep_merge(owner_layers(domain, preset, serving), overrides)
    try:
        config = SCHEMAS[domain].model_validate(layers)
    except ValidationError as err:
        # Bounds that only show in the whole config (a temperature that overflows, a learning
        # rate the engine refuses with the preset's other settings): the request's to fix.
        raise _refusal([f"config.{p}" if not p.startswith("(") else p for p in _problems(err)], domain) from None
    if domain == "arc" and request.config.data.tasks:
        missing = [t for t in request.config.data.tasks if t not in available_task_ids(config.data.model_dump_json())]
        if missing:
            raise _refusal([f"config.data.tasks: no task {', '.join(repr(m) for m in missing)} in the server's data"], domain)
    return config


@functools.lru_cache(maxsize=8)
def available_task_ids(data_json: str) -> frozenset[str]:
    """The task ids of the server's ARC data (its source, version, path), read once."""
    from seal_agent.arc.config import DataConfig
    from seal_agent.arc.data import load_configured_tasks

    data = DataConfig.model_validate({**json.loads(data_json), "tasks": []})
    return frozenset(task.task_id for task in load_configured_tasks(data))


def check_server_config(server: ServerConfig) -> None:
    """Every preset the owner serves resolves with the owner's layers, and every limit names
    a numeric field a client may set: all problems at once, at server start (`ConfigError`)."""
    problems = []
    for domain, schema in SCHEMAS.items():
        serving = server.domain(domain)
        allowed = set(allowed_fields(REQUESTS[domain]))
        for name in serving.limits:
            if f"config.{name}" not in allowed:
                problems.append(f"{domain}.limits.{name}: not a field a client may set")
        for preset in serving.presets:
            if preset not in schema.presets:
                problems.append(f"{domain}.presets: unknown preset {preset!r}; choose from {', '.join(schema.presets)}")
                continue
            try:
                config = schema.model_validate(owner_layers(domain, preset, serving))
            except ValidationError as err:
                problems += [f"{domain} preset {preset!r} with the owner's config: {p}" for p in _problems(err)]
            except ConfigError as err:
                problems.append(f"{domain}.config_file: {err}")
            else:
                if domain == "knowledge" and config.mode != "single":
                    problems.append(f"knowledge preset {preset!r}: seal_knowledge serves mode single, not {config.mode!r}")
    if problems:
        raise ConfigError("the server's config (serve.yaml): " + "\n  - ".join(["", *problems]))
