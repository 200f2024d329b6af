"""Every engine class implements its whole protocol, so callers never probe for methods."""

import inspect

import pytest

from seal_agent.engine import Engine, ScoringEngine
from seal_agent.engine.batched import BatchedEngine
from seal_agent.engine.full_update import FullUpdateEngine
from seal_agent.engine.ray import RayEngine
from seal_agent.engine.sequential import LoraEngine
from seal_agent.engine.vllm import VllmEngine


def protocol_methods(protocol) -> set[str]:
    return {name for name, value in vars(protocol).items() if inspect.isfunction(value) and not name.startswith("_")}


@pytest.mark.parametrize("engine_class", [LoraEngine, BatchedEngine, FullUpdateEngine, RayEngine, VllmEngine])
def test_every_engine_speaks_the_arc_protocol(engine_class):
    assert issubclass(engine_class, Engine)
    for name in protocol_methods(Engine):
        own = inspect.signature(getattr(engine_class, name))
        wanted = inspect.signature(getattr(Engine, name))
        assert list(own.parameters) == list(wanted.parameters), f"{engine_class.__name__}.{name}{own} != {wanted}"


@pytest.mark.parametrize("engine_class", [LoraEngine, BatchedEngine, FullUpdateEngine])
def test_the_local_engines_also_score_for_the_knowledge_loop(engine_class):
    assert issubclass(engine_class, ScoringEngine)
    for name in protocol_methods(ScoringEngine):
        assert list(inspect.signature(getattr(engine_class, name)).parameters) == \
            list(inspect.signature(getattr(ScoringEngine, name)).parameters)


def test_a_class_missing_a_method_is_not_an_engine():
    class HalfEngine:
        def train_and_generate(self, jobs, prompts, max_new_tokens, batch_size):
            return []

    assert not issubclass(HalfEngine, Engine)
