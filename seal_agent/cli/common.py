"""What every `seal` command shares: the console, the usage-error exit, the progress bar."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from seal_agent.config import deep_merge

# soft_wrap: a message is never broken at the console's width (80 columns when the output
# is a pipe or a log), so a path or a phrase in it stays whole; a terminal wraps it itself.
console = Console(soft_wrap=True)
USAGE_ERROR = 2


def fail(message: str) -> None:
    """Print one error line and exit with code 2 (bad input; nothing was run)."""
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(USAGE_ERROR)


def resume_conflicts(saved: dict, given: dict, where: tuple[str, ...] = ()) -> list[str]:
    """The settings repeated on --resume (`given`, a config layer) that differ from the saved
    config's, each as "key (saved ..., given ...)". A relative path equals the absolute one
    the run directory saved for it."""
    conflicts = []
    for key, value in given.items():
        here = where + (key,)
        old = saved.get(key) if isinstance(saved, dict) else None
        if isinstance(value, dict) and isinstance(old, dict):
            conflicts += resume_conflicts(old, value, here)
        elif not same_setting(old, value):
            conflicts.append(f"{'.'.join(here)} (saved {old!r}, given {value!r})")
    return conflicts


def same_setting(saved, given) -> bool:
    if saved == given:
        return True
    if isinstance(saved, str) and isinstance(given, str) and saved and given and Path(saved).is_absolute():
        try:
            return Path(given).expanduser().resolve() == Path(saved)
        except (OSError, RuntimeError, ValueError):
            return False
    return False


def write_output(path, text: str) -> None:
    """Write a command's output file (-o, --json), creating missing parent folders, as `mkdir
    -p` would; a path that cannot take a file (a directory, no permission) exits 2 naming it."""
    if path.is_dir():
        fail(f"{path}: is a directory; give the name of the file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        fail(f"{path}: cannot be written ({err.strerror or err})")


def progress_bar() -> Progress:
    """A rich progress bar, shown on a terminal (or when SEAL_PROGRESS=1)."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        disable=not console.is_terminal and os.environ.get("SEAL_PROGRESS") != "1",
    )


# -- what `seal run arc` and `seal run knowledge` share ---------------------------------------


def start_run(prepare, schema, *, resume: bool, run_dir, preset, config, overrides: dict, name, errors: tuple):
    """A prepared run: resumed from its directory, or new from preset, then --config, then options.

    `prepare(config, run_dir, resume)` is the domain's preparation; `name(config)` starts the
    default directory name; `errors` are the usage errors that exit with code 2.
    """
    from datetime import datetime

    from seal_agent.config import read_yaml_mapping, resolve_config
    from seal_agent.run.directory import saved_config

    try:
        if resume:
            if run_dir is None:
                fail("--resume needs --run-dir")
            if preset or config or overrides:  # the same command again is fine; a changed setting is not
                given = deep_merge(deep_merge({"preset": preset} if preset else {},
                                              read_yaml_mapping(Path(config)) if config else {}), overrides)
                conflicts = resume_conflicts(saved_config(Path(run_dir), schema).model_dump(mode="json"), given)
                if conflicts:
                    fail("--resume continues the run with the config saved in its run directory; these options "
                         "differ from it: " + "; ".join(conflicts))
            return prepare(None, run_dir, resume=True)
        resolved = resolve_config(preset if preset or config else "smoke", config, overrides, schema=schema)
        if run_dir is None:
            run_dir = Path("runs") / f"{name(resolved)}-{datetime.now():%Y%m%d-%H%M%S}"
        return prepare(resolved, run_dir, resume=False)
    except errors as err:
        fail(str(err))


def open_feed(prepared, log_to: list[str], threads: int | None):
    """Set torch's threads and open the trackers asked for; a tracker that cannot open exits 2."""
    from seal_agent.inspect.trackers import TrackerError, TrackerFeed, open_trackers
    from seal_agent.run.directory import remove_new_run_dir

    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        return TrackerFeed(open_trackers(log_to, prepared.run_dir, prepared.config.model_dump(mode="json")), prepared.run_dir)
    except TrackerError as err:
        remove_new_run_dir(prepared.run_dir, prepared.resume)
        fail(str(err))


def echo_updates(progress, feed, stream: bool):
    """The part of `on_update` every run shares: trackers, and the --stream line."""
    from seal_agent.inspect.streaming import describe_update

    def echo(node: str, update: dict) -> None:
        feed(node, update)
        if stream:
            line = describe_update(node, update)
            if line:
                progress.console.print(escape(line))

    return echo


def run_to_end(run, prepared, progress, feed, command: str):
    """`run()` under the progress display; failures leave the directory resumable or remove it.

    Another process holding the directory, a model or an optional backend that cannot load
    exit 2; Ctrl-C after some progress says how to resume and exits 130.
    """
    from seal_agent.engine.ray import RayUnavailableError
    from seal_agent.model.loading import ModelLoadError
    from seal_agent.run.directory import remove_new_run_dir
    from seal_agent.run.driver import has_progress
    from seal_agent.run.lock import RunLockedError
    from seal_agent.engine.vllm import VllmUnavailableError

    try:
        with progress:
            summary = run()
        feed.close()
        return summary
    except BaseException as err:
        if isinstance(err, RunLockedError):  # another process owns the directory: touch nothing
            fail(str(err))
        # A new run that completed no step is not worth keeping; one with progress can be resumed.
        if not has_progress(prepared.run_dir):
            remove_new_run_dir(prepared.run_dir, prepared.resume)
        if isinstance(err, (ModelLoadError, RayUnavailableError, VllmUnavailableError)):
            fail(str(err))
        if isinstance(err, KeyboardInterrupt) and has_progress(prepared.run_dir):
            console.print(f"interrupted; continue with: seal run {command} --resume --run-dir {escape(str(prepared.run_dir))}")
            raise typer.Exit(130)
        raise
