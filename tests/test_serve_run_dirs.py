"""Every served run lives in RUN_ROOT/<domain>/<thread id>: no path from a request, no `..`,
no symbolic link out, and no thread can reach another thread's run (`seal_agent.jobs.serving.run_dirs`)."""

from __future__ import annotations

import pytest

from seal_agent.jobs.serve import open_served_run
from seal_agent.jobs.serving.live_runs import LiveRuns
from seal_agent.jobs.serving.request import ServedRequestError
from seal_agent.jobs.serving.run_dirs import served_run_dir
from seal_agent.jobs.serving.server_config import ServerConfig


def test_a_threads_run_directory_is_under_the_run_root(tmp_path):
    root = tmp_path / "root"
    thread = "1f0b2c3d-4e5f-6789-abcd-ef0123456789"
    assert served_run_dir(root, "arc", thread) == root.resolve() / "arc" / thread
    assert served_run_dir(root, "knowledge", thread) != served_run_dir(root, "arc", thread)
    assert served_run_dir(root, "arc", "other-thread") != served_run_dir(root, "arc", thread)


@pytest.mark.parametrize("thread", ["..", "../x", "a/b", "/etc", "", ".hidden", "x" * 200, "a\x00b", None, 7, "a b"])
def test_a_thread_id_that_is_not_a_plain_name_is_refused(tmp_path, thread):
    with pytest.raises(ServedRequestError, match="plain name"):
        served_run_dir(tmp_path, "arc", thread)
    assert list(tmp_path.iterdir()) == []


def test_a_symbolic_link_in_the_run_root_leads_nowhere(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "arc").mkdir(parents=True)
    outside.mkdir()
    (root / "arc" / "t1").symlink_to(outside)
    with pytest.raises(ServedRequestError, match="symbolic link"):
        served_run_dir(root, "arc", "t1")
    (root / "knowledge").symlink_to(outside)
    with pytest.raises(ServedRequestError, match="symbolic link"):
        served_run_dir(root, "knowledge", "t2")
    # through the whole request path too: nothing is written outside the root
    with pytest.raises(ServedRequestError, match="symbolic link"):
        open_served_run("arc", "t1", {}, ServerConfig(run_root=str(root)), LiveRuns(4))
    assert list(outside.iterdir()) == []


def test_a_thread_cannot_resume_another_threads_run(tmp_path):
    server = ServerConfig(run_root=str(tmp_path / "root"))
    theirs = served_run_dir(server.run_root, "arc", "thread-a")
    theirs.mkdir(parents=True)
    (theirs / "seal-run.json").write_text('{"seal_agent_run": 1}')
    (theirs / "config.yaml").write_text("domain: arc\n")
    # naming their directory is refused; the only directory thread b gets is its own
    for raw in ({"run_dir": str(theirs)}, {"config": {"run_dir": str(theirs)}}, {"resume": True, "run_dir": str(theirs)}):
        with pytest.raises(ServedRequestError, match="not a field a client may set"):
            open_served_run("arc", "thread-b", raw, server, LiveRuns(4))
    live = LiveRuns(4)
    open_served_run("arc", "thread-b", {}, server, live)  # takes a place; its first node would build
    assert live._runs[("arc", "thread-b")].run_dir == served_run_dir(server.run_root, "arc", "thread-b") != theirs
    live.release(("arc", "thread-b"))
    assert sorted(p.name for p in theirs.iterdir()) == ["config.yaml", "seal-run.json"]  # untouched
