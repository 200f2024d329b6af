"""The served graphs' auth, LangGraph's way (`langgraph.json` `auth`, `langgraph_sdk.Auth`): a token
names the user, each user sees only their own threads and runs, the assistants are the owner's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("langgraph_sdk", reason="needs langgraph-sdk (the dev extra)")
from langgraph_sdk import Auth  # noqa: E402

from seal_agent.jobs.serving import auth as served_auth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKENS = {"alice": "a" * 24, "bob": "b" * 24}


def test_langgraph_json_checks_tokens_through_this_module_and_studio_too():
    config = json.loads((ROOT / "langgraph.json").read_text())
    path, _, name = config["auth"]["path"].partition(":")
    assert (ROOT / path).resolve() == Path(served_auth.__file__).resolve() and name == "auth"
    assert config["auth"]["disable_studio_auth"] is True  # else Studio's header skips the check


def test_a_token_names_its_user_and_anything_else_is_refused():
    assert served_auth.user_of("Bearer " + "b" * 24, "203.0.113.9", TOKENS) == "bob"
    assert served_auth.user_of("bearer  " + "a" * 24, "127.0.0.1", TOKENS) == "alice"
    for header in (None, "", "Bearer", "Bearer " + "c" * 24, "Basic " + "a" * 24, "a" * 24, "Bearer " + "a" * 23):
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            served_auth.user_of(header, "127.0.0.1", TOKENS)
        assert refused.value.status_code == 401


def test_without_tokens_only_this_machine_is_served():
    assert served_auth.user_of(None, "127.0.0.1", {}) == served_auth.user_of(None, "::1", {}) == "local"
    for host in ("10.0.0.2", "203.0.113.9", None, "testclient"):
        with pytest.raises(Auth.exceptions.HTTPException, match="only clients on its own machine"):
            served_auth.user_of("Bearer whatever", host, {})


def test_tokens_are_read_strictly():
    assert served_auth.parse_tokens(f"alice:{'a' * 24}, bob:{'b' * 24}") == TOKENS
    assert served_auth.parse_tokens("") == {} and served_auth.parse_tokens(None) == {}
    for bad in ("alice", f":{'a' * 24}", "alice:short"):
        with pytest.raises(ValueError, match="SEAL_SERVE_TOKENS"):
            served_auth.parse_tokens(bad)


def ctx(user: str, resource: str, action: str):
    return SimpleNamespace(user=SimpleNamespace(identity=user), resource=resource, action=action, permissions=[])


def test_threads_and_runs_are_their_owners():
    value = {"thread_id": "t", "metadata": {"owner": "mallory", "x": 1}}
    assert asyncio.run(served_auth.owner_only(ctx("alice", "threads", "create"), value)) == {"owner": "alice"}
    assert value["metadata"] == {"owner": "alice", "x": 1}  # a client cannot claim someone else's
    run = {"thread_id": "t", "kwargs": {"input": {}, "context": {"preset": "smoke"}}}
    assert asyncio.run(served_auth.runs_start_from_the_graph(ctx("bob", "threads", "create_run"), run)) == {"owner": "bob"}
    for kwargs in ({"input": {"policy_checkpoint": "/etc"}}, {"input": None, "command": {"update": {"round": 9}}}):
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            asyncio.run(served_auth.runs_start_from_the_graph(ctx("bob", "threads", "create_run"), {"kwargs": kwargs}))
        assert refused.value.status_code == 422


def test_the_assistants_are_the_servers_and_the_store_is_per_user():
    handler = served_auth.assistants_are_the_servers
    assert asyncio.run(handler(ctx("alice", "assistants", "search"), {})) is None
    for action in ("create", "update", "delete"):
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            asyncio.run(handler(ctx("alice", "assistants", action), {"graph_id": "seal_arc", "context": {"run_dir": "/"}}))
        assert refused.value.status_code == 403
    value = {"namespace": ("bob", "notes")}
    asyncio.run(served_auth.store_by_user(ctx("alice", "store", "put"), value))
    assert value["namespace"] == ("alice", "bob", "notes")
