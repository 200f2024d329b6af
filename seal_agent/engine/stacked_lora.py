"""K LoRA adapters stacked per target layer and applied to routed rows by forward hooks.

The batched engine (`seal_agent.engine.batched`) trains K candidates' adapters in one
pass: each target linear layer's K adapters are stacked (`A: [K, r, in]`, `B: [K, out, r]`),
every row of a batch carries the slot of its candidate, and a forward hook on the frozen
base layer adds `scale * B[k_row] (A[k_row] x_row)`: peft's LoRA update, per row.
"""

from __future__ import annotations

import torch
from peft.tuners.lora import LoraLayer


def segments_of(slots: list[int]) -> list[tuple[int, int, int]]:
    """[(slot, first_row, end_row)] for runs of equal slots in row order."""
    segments = []
    for row, slot in enumerate(slots):
        if segments and segments[-1][0] == slot and segments[-1][2] == row:
            segments[-1] = (slot, segments[-1][1], row + 1)
        else:
            segments.append((slot, row, row + 1))
    return segments


class StackedLora:
    """K LoRA adapters stacked per target layer, applied to routed rows by forward hooks."""

    def __init__(self, peft_model, adapter: str, slots: int):
        self.layers: list[tuple[torch.nn.Module, float]] = []
        self.lora_modules: list[LoraLayer] = []  # the peft layers the stacks stand in for, same order
        self.adapter = adapter
        self.A: list[torch.nn.Parameter] = []
        self.B: list[torch.nn.Parameter] = []
        # While the hooks act: contiguous row ranges of the batch and the slot each one uses,
        # [(slot, first_row, end_row), ...] covering every row, or one slot for all rows.
        # Known on the host: no syncs.
        self.segments: list[tuple[int, int, int]] | int | None = None
        self._rows_for: list[tuple[int, int, int]] | None = None  # the segments `_rows` was built from
        self._rows: torch.Tensor | None = None
        self.handles = []
        found = []
        for _name, module in peft_model.named_modules():
            if isinstance(module, LoraLayer) and adapter in module.lora_A and isinstance(module.get_base_layer(), torch.nn.Linear):
                dropout = module.lora_dropout[adapter]
                if not isinstance(dropout, torch.nn.Identity):
                    raise ValueError("the batched engine needs lora dropout 0; use --engine sequential")
                found.append(module)
        # Every slot's weights live in one [K, P] buffer (its gradients in another), and each
        # layer's A [K, r, in] and B [K, out, r] are views of it: the optimiser updates all
        # layers of all candidates in a few tensor ops per step.
        weights = [(m.lora_A[adapter].weight, m.lora_B[adapter].weight) for m in found]
        total = sum(a.numel() + b.numel() for a, b in weights)
        device = weights[0][0].device if weights else torch.device("cpu")
        self.flat = torch.empty(slots, total, device=device)
        self.flat_grad = torch.zeros(slots, total, device=device)
        offset = 0
        for module, (a0, b0) in zip(found, weights):
            for initial, stacked in ((a0, self.A), (b0, self.B)):  # A: [r, in], B: [out, r]
                view = slice(offset, offset + initial.numel())
                self.flat[:, view] = initial.detach().float().reshape(1, -1)
                param = torch.nn.Parameter(self.flat[:, view].view(slots, *initial.shape))
                param.grad = self.flat_grad[:, view].view(slots, *initial.shape)  # gradients accumulate in place
                stacked.append(param)
                offset += initial.numel()
            self.layers.append((module.get_base_layer(), module.scaling[adapter]))
            self.lora_modules.append(module)
        if not self.layers:
            raise ValueError(f"no LoRA layers for adapter {adapter!r}")
        covered = 2 * len(self.layers)
        expected = sum(1 for name, _p in peft_model.named_parameters() if f".{adapter}." in name and "lora_" in name)
        if covered != expected:  # e.g. embedding or convolution LoRA layers, which this engine does not route
            raise ValueError(f"the batched engine handles LoRA on linear layers only ({covered} of {expected} weights)")
        for index, (base, scale) in enumerate(self.layers):
            self.handles.append(base.register_forward_hook(self._hook(index, scale)))

    def _hook(self, index: int, scale: float):
        def add_lora(_module, inputs, output):
            segments = self.segments
            if segments is None:
                return output
            x = inputs[0]
            A, B = self.A[index], self.B[index]
            if isinstance(segments, int):  # every row of any batch uses this one slot
                return output + (scale * ((x.to(A.dtype) @ A[segments].T) @ B[segments].T)).to(output.dtype)
            rows = self._row_slots(segments, x.shape[0])
            # Each row's own adapter, gathered once, in two batched matmuls (fp32, like peft's
            # LoRA path): a handful of ops per layer whatever the number of candidates.
            h = x.reshape(x.shape[0], -1, x.shape[-1]).to(A.dtype)
            delta = torch.bmm(torch.bmm(h, A.index_select(0, rows).transpose(1, 2)), B.index_select(0, rows).transpose(1, 2))
            return output + (scale * delta.reshape(output.shape)).to(output.dtype)

        return add_lora

    def _row_slots(self, segments: list[tuple[int, int, int]], batch_rows: int) -> torch.Tensor:
        """The slot of every row as an index tensor, built once per routing (every layer reuses it)."""
        if segments[-1][2] != batch_rows:
            raise RuntimeError(f"LoRA routing covers {segments[-1][2]} rows but the batch has {batch_rows}")
        if self._rows_for is not segments:
            slots = [slot for slot, start, end in segments for _ in range(start, end)]
            self._rows = torch.tensor(slots, device=self.flat.device)
            self._rows_for = segments
        return self._rows

    def parameters(self) -> list[torch.nn.Parameter]:
        return self.A + self.B

    def zero_grad(self) -> None:
        self.flat_grad.zero_()

    def freeze(self) -> None:
        """For evaluation: no gradients, no gradient buffer."""
        for param in self.parameters():
            param.grad = None
            param.requires_grad_(False)
        self.flat_grad = None

    @torch.no_grad()
    def copy_slot_to_adapter(self, slot: int) -> None:
        """Write slot `slot`'s weights into the peft adapter itself (e.g. to save it in peft's format)."""
        for module, A, B in zip(self.lora_modules, self.A, self.B):
            weight_a, weight_b = module.lora_A[self.adapter].weight, module.lora_B[self.adapter].weight
            weight_a.copy_(A[slot].to(weight_a.dtype))
            weight_b.copy_(B[slot].to(weight_b.dtype))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
