"""Deciding when to update: the `no_update` self-edit and the price of an update.

With `policy.no_update` the policy is offered a second tool, `no_update` (no arguments),
beside its prompt variant's: a self-edit may be that one call alone, the decision to leave
the model as it is. Rewards then price the decision (`reward.update_cost`, in the reward's
units):

    an update      its improvement over the base model minus the cost
    no_update      0: nothing gained, nothing paid, nothing trained

so a policy that learns from these rewards learns to skip passages whose update would not
earn its cost (facts it knows already, self-edits that teach nothing) and to update on the
others. ReST-EM (`seal_agent.knowledge.scoring.rest_em_kept`) keeps, per passage, the best
of the sampled self-edits and of no_update, whose reward needs no run; in mode continual a
no_update self-edit makes no update at that step, and its step costs no training time.
Sweeping the cost traces the trade-off between updates made and accuracy
(`benchmarks/update_gate_table.py`).
"""

from __future__ import annotations

import json
from typing import Any

from seal_agent.tools.knowledge import NO_UPDATE

# The no_update self-edit as the policy writes it (the grammar's separators).
NO_UPDATE_COMPLETION = json.dumps([{"name": NO_UPDATE, "arguments": {}}])


def skip_row(passage_id: str) -> dict[str, Any]:
    """The no_update self-edit of a passage as a scored row: reward 0, known without a run."""
    return {"task_id": passage_id, "candidate": -1, "completion": NO_UPDATE_COMPLETION, "status": "ok", "reward": 0.0,
            "improvement": 0.0, "skipped": True, "sampled": False}
