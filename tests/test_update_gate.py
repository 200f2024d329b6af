"""Deciding when to update (`policy.no_update`, `reward.update_cost`): the no_update
self-edit validates, costs nothing, is rewarded 0, is kept by ReST-EM where no update earns
its cost, makes no update in continual mode, and is a sentence of the decoding grammar."""

from __future__ import annotations

import json

import pytest

from seal_agent.config import ConfigError
from seal_agent.knowledge.gate import NO_UPDATE_COMPLETION
from seal_agent.knowledge.prompts import bounded_tool_specs, knowledge_messages, variant_tools
from seal_agent.knowledge.scoring import rest_em_kept
from seal_agent.policy.candidates import message_from_json
from seal_agent.policy.self_edit import KnowledgeEdit, Rejection, validate_knowledge_edit
from tests.test_knowledge_graph import knowledge_config, run
from seal_agent.tools import knowledge_tools

IMPLICATIONS = json.dumps([{"name": "write_implications", "arguments": {"statements": ["A fact."]}}])


def gated_tools():
    return variant_tools("implications", knowledge_tools(), no_update=True)


def test_no_update_alone_is_a_valid_self_edit_that_writes_nothing_and_mixed_it_is_rejected():
    edit = validate_knowledge_edit(message_from_json(NO_UPDATE_COMPLETION), gated_tools())
    assert isinstance(edit, KnowledgeEdit) and edit.skips_update and edit.sequences == []
    mixed = json.dumps([{"name": "write_implications", "arguments": {"statements": ["A fact."]}},
                        {"name": "no_update", "arguments": {}}])
    rejected = validate_knowledge_edit(message_from_json(mixed), gated_tools())
    assert isinstance(rejected, Rejection) and "only call" in rejected.reason
    assert not validate_knowledge_edit(message_from_json(IMPLICATIONS), gated_tools()).skips_update
    # Without policy.no_update the tool is not offered at all.
    unknown = validate_knowledge_edit(message_from_json(NO_UPDATE_COMPLETION), variant_tools("implications", knowledge_tools()))
    assert isinstance(unknown, Rejection) and "unknown tool" in unknown.reason


def test_the_grammar_accepts_no_update_and_the_prompt_offers_it():
    xgrammar = pytest.importorskip("xgrammar")
    from seal_agent.policy.tool_format import self_edit_grammar

    grammar = self_edit_grammar(bounded_tool_specs(gated_tools(), 16, 2))
    compiled = xgrammar.GrammarCompiler(xgrammar.TokenizerInfo([])).compile_grammar(grammar)
    for text, accepted in ((NO_UPDATE_COMPLETION, True), (IMPLICATIONS, True), ('[{"name": "no_update", "arguments": {"x": 1}}]', False)):
        matcher = xgrammar.GrammarMatcher(compiled)
        assert matcher.accept_string(text) == accepted, text  # (no stop token here: the whole text is the check)
    from seal_agent.knowledge.data import Passage

    (message,) = knowledge_messages(Passage("p", "T", "Text.", ()), "implications", gated_tools(), "compact")
    assert "no_update" in message.content


def test_update_cost_needs_the_choice():
    with pytest.raises(ConfigError, match="policy.no_update"):
        knowledge_config(reward={"update_cost": 0.1})


def row(passage, candidate, reward, skipped=False):
    return {"task_id": passage, "candidate": candidate, "status": "ok", "reward": reward, "improvement": reward + 0.1,
            "skipped": skipped, "completion": f"c{candidate}"}


def test_rest_em_keeps_no_update_where_no_update_earns_its_cost():
    results = [row("p", 0, 0.3), row("p", 1, -0.2),          # an update that pays: kept
               row("q", 0, -0.1), row("q", 1, 0.0, True),    # no_update sampled and best: kept
               row("r", 0, -0.05), row("r", 1, -0.3)]        # no update pays, none sampled: no_update all the same
    kept = rest_em_kept(results, ["p", "q", "r"], "improved", gated=True)
    assert [(k["task_id"], k["completion"]) for k in kept] == [("p", "c0"), ("q", "c1"), ("r", NO_UPDATE_COMPLETION)]
    assert kept[2]["sampled"] is False
    # Ungated, as before: the best update if it improved, nothing else.
    assert [k["task_id"] for k in rest_em_kept(results, ["p", "q", "r"], "improved")] == ["p", "q", "r"][:1] + ["q", "r"]


def test_single_mode_prices_updates_and_gives_no_update_zero(tmp_path, monkeypatch):
    import seal_agent.graphs.knowledge as graph

    real = graph.sample_self_edits

    def one_skip(policy, tools, passage, config, n, seed):  # the first candidate of every passage skips
        prompt, candidates = real(policy, tools, passage, config, n, seed)
        candidates[0] = {**candidates[0], "completion": NO_UPDATE_COMPLETION,
                         "tool_calls": [{"name": "no_update", "args": {}}], "invalid_tool_calls": []}
        return prompt, candidates

    monkeypatch.setattr(graph, "sample_self_edits", one_skip)
    prepared, summary = run(tmp_path, "gated", rounds=1, policy={"no_update": True, "candidates_per_passage": 2,
                                                                  "max_new_tokens": 200, "max_text_chars": 16, "max_items": 2},
                            reward={"update_cost": 0.5})
    from seal_agent.run.traces import TraceStore

    rows = TraceStore(prepared.run_dir / "run.sqlite").candidates()
    skips = [r for r in rows if r["candidate"] == 0]
    assert all(r["status"] == "ok" and r["reward"] == 0.0 and not r.get("loss_curve") for r in skips)
    for r in rows:
        if r["candidate"] == 1 and r["status"] == "ok":
            assert r["reward"] == pytest.approx(r["metrics"]["after"]["loglik"] - r["metrics"]["base"]["loglik"] - 0.5, abs=1e-6)
    (round_1,) = summary["rounds"]
    paying = {r["task_id"] for r in rows if r["candidate"] == 1 and r["status"] == "ok" and r["reward"] > 0}
    assert round_1["no_update_sampled"] == 2 and round_1["no_update_kept"] == 2 - len(paying)
    assert round_1["kept"] == 2


def test_continual_no_update_makes_no_update(tmp_path, monkeypatch):
    import seal_agent.graphs.knowledge as graph

    def always_skip(policy, tools, passage, config, n, seed):
        return "prompt", [{"candidate": 0, "completion": NO_UPDATE_COMPLETION, "tool_calls": [{"name": "no_update", "args": {}}],
                           "invalid_tool_calls": []}]

    monkeypatch.setattr(graph, "sample_self_edits", always_skip)
    prepared, summary = run(tmp_path, "skip", mode="continual", passages_per_round=2, policy={"no_update": True},
                            continual={"strategy": "replay"})
    assert [(s["updated"], s["skipped"], s["replayed"]) for s in summary["steps"]] == [(False, True, 0)] * 2
    matrix = summary["forgetting"]["matrix"]
    assert matrix[2] == pytest.approx(matrix[0])  # nothing changed the model
    record = json.loads((prepared.run_dir / "continual" / "step_1.json").read_text())
    assert record["trained"] is False and record["texts"] == []
