"""The jobs `seal run` starts, as functions: `arc.prepare_run` / `arc.run_arc` and
`knowledge.prepare_knowledge_run` / `knowledge.run_knowledge`.

This is the entry layer: the only part of the package (with the CLI and `inspect`'s graph
drawing) that knows the LangGraph graphs in `graphs/`. Each job checks its inputs before
it creates anything, builds the model, engine and policy once (the graph's runtime
context), and drives the graph under the run directory's checkpointer
(`seal_agent.run.driver`), so a killed run resumes where it stopped. `serve` holds the
same graphs as LangGraph's own server runs them (`langgraph.json`), for clients that share
it: their context built from a JSON request that may set only what `serving.request`
allows (`serving/`: the owner's config, run directories, live runs, auth, checkpoints).
"""
