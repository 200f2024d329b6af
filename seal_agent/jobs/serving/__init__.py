"""What serving the SEAL graphs to clients that share one LangGraph server takes.

    server_config.py   the server owner's config (serve.yaml, SEAL_SERVE_CONFIG): run root,
                       presets served, the owner's config layer, limits, concurrent runs
    request.py         what a client may set (the allow-list), and the run config it gives
    run_dirs.py        every served run's directory: RUN_ROOT/<domain>/<thread id>, nothing else
    live_runs.py       the contexts of the runs going on: at most N, released when a run ends
    auth.py            the token check and the owner filters (langgraph.json's `auth` entry)
    checkpointer.py    the served threads' checkpoints in SQLite in the run root (its `checkpointer` entry)

`seal_agent.jobs.serve` puts them together as the graphs `langgraph.json` serves.
"""
