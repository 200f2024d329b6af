"""Does the policy see what tells the contextual world's kinds apart? A linear probe on its prompt.

SEAL's claim in the contextual world (`seal_agent.arc.contextual_world`) is that the policy
reads a task and chooses its self-edit for it. That needs the policy's representation of the
prompt to carry the task's kind (colour-bound, positional, colour-free) in a form that holds
for families it has never seen, since the evaluation families are never RL's. The probe asks
exactly that, with no sampling and no update:

    features   per layer, the hidden state of the self-edit prompt: the mean over its tokens
               and the last token's (`prompt_states`)
    fit        a multinomial logistic regression from those features to the kind, on the RL
               families' tasks (`fit_probe`)
    scored     on the evaluation families' tasks: other families of the same three kinds
               (chance: one in three); and, as a control, on held-out tasks of the RL
               families themselves

A probe that reads the kind of held-out RL tasks but not of the evaluation families says the
representation keeps what the families look like, not the kind of rule they follow: a policy
built on it cannot choose an evaluation family's augmentation by its kind. `grid_features`
gives the same probe three numbers computed from the demonstrations themselves, to show what
a reader of the grids could know.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seal_agent.arc.data import ArcTask


@torch.no_grad()
def prompt_states(model, tokenizer, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
    """Per prompt and layer (embeddings first), the mean hidden state over its tokens and the
    last token's: {"mean": [prompts, layers + 1, hidden], "last": [...]}, in float32."""
    model.eval()
    device = next(model.parameters()).device
    means, lasts = [], []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(device)
        states = torch.stack(model(input_ids=ids, output_hidden_states=True).hidden_states)[:, 0].float()  # [layers+1, tokens, hidden]
        means.append(states.mean(dim=1).cpu())
        lasts.append(states[:, -1].cpu())
    return {"mean": torch.stack(means), "last": torch.stack(lasts)}


def grid_features(task: ArcTask) -> np.ndarray:
    """Three numbers a reader of the demonstrations could compute, averaged over them:
    whether the changed cells lie on one row or column; whether each colour is changed
    everywhere it appears or nowhere (the change is a function of the colour); the share of
    changed cells that were background."""
    rows = []
    for pair in task.train:
        grid, out = np.array(pair.input), np.array(pair.output)
        changed = grid != out
        rs, cs = np.nonzero(changed)
        one_line = float(len(set(rs)) == 1 or len(set(cs)) == 1)
        by_colour = [changed[grid == c].all() or not changed[grid == c].any() for c in np.unique(grid)]
        rows.append([one_line, float(np.mean(by_colour)), float((grid[changed] == 0).mean()) if changed.any() else 0.0])
    return np.mean(rows, axis=0)


@dataclass(frozen=True)
class LinearProbe:
    """A multinomial logistic regression over standardised features."""

    classes: tuple[str, ...]
    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor  # [features, classes]
    bias: torch.Tensor

    def predict(self, features: torch.Tensor) -> list[str]:
        logits = ((features.double() - self.mean) / self.std) @ self.weight + self.bias
        return [self.classes[i] for i in logits.argmax(dim=-1).tolist()]

    def accuracy(self, features: torch.Tensor, labels: Sequence[str]) -> float:
        return float(np.mean([p == y for p, y in zip(self.predict(features), labels)]))


def fit_probe(features: torch.Tensor, labels: Sequence[str], l2: float = 1e-2, steps: int = 200) -> LinearProbe:
    """Fit a `LinearProbe` by full-batch L-BFGS (deterministic): cross-entropy plus `l2` times
    the squared weights, on features standardised by the training set's mean and spread."""
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise ValueError(f"a probe needs at least two classes; the training labels are all {classes}")
    x = features.double()
    mean, std = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    x = (x - mean) / std
    y = torch.tensor([classes.index(label) for label in labels])
    weight = torch.zeros(x.shape[1], len(classes), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(len(classes), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(x @ weight + bias, y) + l2 * weight.pow(2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return LinearProbe(classes, mean, std, weight.detach(), bias.detach())
