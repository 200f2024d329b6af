"""The knowledge-incorporation domain (SEAL section 3.2): passages in, implications out.

The policy reads a passage and writes implications as tool calls; each self-edit trains
a LoRA update on the passage plus its implications; the updated model answers questions
about the passage without seeing it, and how much better it answers is the reward.

    config      KnowledgeRunConfig and its sections
    data        passages with questions: loading and validation
    prompts     the messages that ask for a self-edit, one template per variant of the paper
    update      a self-edit -> training examples
    reward      how well the updated model answers without the passage
    scoring     one passage's self-edits -> trace rows with rewards (the graph's nodes and
                `seal eval knowledge` share it)
    baselines   `seal eval knowledge`: base model, passage only, policy, teacher rows
    continual   mode continual's strategies: merge, replay, an adapter library with retrieval
    gate        deciding when to update: the no_update self-edit and the price of an update

The graph itself is `seal_agent.graphs.knowledge`; `seal_agent.jobs.knowledge` runs it in a run directory.
"""
