"""The trainable self-edit policy: a LangChain chat model over a local transformers model.

`LocalToolPolicy` returns `AIMessage`s whose `tool_calls` are the self-edit. With
`constrained=True` every sampled token is masked by a grammar that xgrammar compiles from
the bound tools' JSON schemas (`seal_agent.policy.tool_format.self_edit_grammar`), so even a
random-init model writes only calls that match the schema: known tool names, each at
most once, the required `train` call, arguments with numbers inside their bounds. Without
the grammar (or when the token budget runs out) whatever was written is parsed; what fails
to parse is returned as `invalid_tool_calls` with the error, never raised.

    policy = LocalToolPolicy(model=peft_model, tokenizer=tokenizer).bind_tools(arc_tools("seal"))
    message = policy.invoke(messages)            # one self-edit
    result = policy.generate([messages], n=15)   # fifteen, sampled in one batch

Sampling is seeded (`seed=` per call) so a run is reproducible.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import torch
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr
from transformers import DynamicCache

from seal_agent.model.adapters import POLICY_ADAPTER
from seal_agent.policy.candidates import parse_tool_calls
from seal_agent.policy.tool_format import openai_tools, self_edit_grammar

ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def render_chat(tokenizer, messages: Sequence[BaseMessage]) -> str:
    """Chat messages through the tokenizer's chat template, ready for the assistant's answer."""
    chat = [{"role": ROLES.get(m.type, m.type), "content": m.text} for m in messages]
    return tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)


class LocalToolPolicy(BaseChatModel):
    """Writes self-edits as tool calls with a local transformers (peft) model."""

    model: Any = Field(exclude=True, description="A peft model carrying the policy adapter.")
    tokenizer: Any = Field(exclude=True)
    adapter_name: str = POLICY_ADAPTER
    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 256
    max_optional_calls: int = 6
    constrained: bool = True

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _tokenizer_info: Any = PrivateAttr(default=None)
    _compiler: Any = PrivateAttr(default=None)
    _grammars: dict = PrivateAttr(default_factory=dict)
    _batch: Any = PrivateAttr(default=None)
    _mask_buffer: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "seal-local-tool-policy"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any):
        return self.bind(tools=openai_tools(tools), **kwargs)

    # -- prompt ---------------------------------------------------------------------------
    def render_prompt(self, messages: Sequence[BaseMessage]) -> str:
        return render_chat(self.tokenizer, messages)

    # -- grammar --------------------------------------------------------------------------
    @property
    def _xgr(self):
        import xgrammar

        return xgrammar

    def compile_grammar(self, tools: list[dict[str, Any]]):
        """The self-edit grammar of `tools`, compiled once per policy and reused by every task and round."""
        if self._tokenizer_info is None:
            vocab_size = self.model.get_output_embeddings().weight.shape[0]
            self._tokenizer_info = self._xgr.TokenizerInfo.from_huggingface(
                self.tokenizer, vocab_size=vocab_size, stop_token_ids=[self.tokenizer.eos_token_id]
            )
            self._compiler = self._xgr.GrammarCompiler(self._tokenizer_info)
        key = json.dumps(tools, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = self._compiler.compile_grammar(self_edit_grammar(tools, self.max_optional_calls))
        return self._grammars[key]

    def _batch_matcher(self):
        if self._batch is None:
            self._batch = self._xgr.BatchGrammarMatcher()
        return self._batch

    def _bitmask(self, rows: int) -> torch.Tensor:
        """A token bitmask for `rows` rows (a view of one buffer that grows as needed)."""
        if self._mask_buffer is None or self._mask_buffer.shape[0] < rows:
            self._mask_buffer = self._xgr.allocate_token_bitmask(rows, self._tokenizer_info.vocab_size)
        return self._mask_buffer[:rows]

    # -- sampling -------------------------------------------------------------------------
    def _pick(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """One token per row by inverse-CDF sampling with the row's own uniform draw."""
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, sorted_idx = probs.sort(dim=-1, descending=True)
            keep = sorted_probs.cumsum(dim=-1) - sorted_probs < self.top_p
            sorted_probs = sorted_probs * keep
            probs = torch.zeros_like(probs).scatter(-1, sorted_idx, sorted_probs)
        cdf = probs.cumsum(dim=-1)
        # right=True: the first token whose cdf exceeds the draw, never one of probability 0
        # (a masked token's cdf equals its predecessor's).
        picked = torch.searchsorted(cdf, (uniforms.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
        return torch.where(picked < probs.shape[-1], picked, probs.argmax(dim=-1))  # a draw rounded up to the total

    @torch.no_grad()
    def sample(self, prompt: str, n: int, tools: list[dict[str, Any]] | None, seed: int) -> list[tuple[str, bool]]:
        """n completions of `prompt`; each with whether it ended properly (not out of tokens).

        The prompt is prefilled once and its cache copied to the n rows. Each step samples
        one token for every row still writing, under the grammar's masks (filled for the
        whole batch at once), with one host transfer of the picked tokens. What the grammar
        then forces (keys, tool names, punctuation: most of a self-edit) is appended without
        sampling (jump-forward decoding) and fed in the same forward pass as the sampled
        token, so a step costs one pass however much text it adds. A finished row leaves the
        batch.
        """
        device = next(self.model.parameters()).device
        self.model.set_adapter(self.adapter_name, inference_mode=True)
        self.model.eval()
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        eos = self.tokenizer.eos_token_id
        grammar = self.compile_grammar(tools) if self.constrained and tools else None
        matchers = [self._xgr.GrammarMatcher(grammar) for _ in range(n)] if grammar is not None else None
        # What the grammar forces before anything is sampled is the same for every row.
        opening = self._jump_forward(matchers[0]) if matchers else []
        for matcher in (matchers or [])[1:]:
            self._accept(matcher, opening)
        # One random stream per row: row i's sample depends only on (seed, i), not on the batch.
        generators = [torch.Generator(device=device).manual_seed((seed * 0x9E3779B1 + row) % 2**63) for row in range(n)]
        cache = DynamicCache()
        # logits_to_keep=1: the prompt's per-token logits (prompt x vocabulary) are never needed.
        logits = self.model(input_ids=torch.tensor([prompt_ids + opening], device=device), past_key_values=cache,
                            use_cache=True, logits_to_keep=1).logits[:, -1]
        if n > 1:
            cache.batch_repeat_interleave(n)
            logits = logits.expand(n, -1)
        tokens: list[list[int]] = [list(opening) for _ in range(n)]
        finished = [False] * n
        active = list(range(n))  # the rows still writing, in batch order
        attention = torch.ones(n, len(prompt_ids) + len(opening), dtype=torch.long, device=device)
        while active:
            logits = logits.float()
            if matchers is not None:
                bitmask = self._bitmask(len(active))
                self._batch_matcher().batch_fill_next_token_bitmask([matchers[row] for row in active], bitmask)
                self._xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device), vocab_size=self._tokenizer_info.vocab_size)
            uniforms = torch.cat([torch.rand(1, generator=generators[row], device=device) for row in active])
            keep, fed = [], []  # batch positions that go on, and the tokens each one feeds next
            for position, (row, token) in enumerate(zip(active, self._pick(logits, uniforms).tolist())):
                if token == eos:
                    finished[row] = True
                    continue
                new = [token]
                if matchers is not None:
                    self._accept(matchers[row], new)
                    new += self._jump_forward(matchers[row])
                tokens[row] += new
                if len(tokens[row]) >= self.max_new_tokens:  # out of tokens: not ended properly
                    del tokens[row][self.max_new_tokens:]
                    continue
                keep.append(position)
                fed.append(new)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                attention = attention.index_select(0, index)
                active = [active[p] for p in keep]
            logits, attention = self._feed(cache, attention, fed, device)
        texts = self.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        return list(zip(texts, finished))

    def _jump_forward(self, matcher) -> list[int]:
        """The tokens the grammar forces next (accepted by `matcher`); [] if it leaves a choice."""
        forced = list(matcher.find_jump_forward_tokens())
        self._accept(matcher, forced)
        return forced

    @staticmethod
    def _accept(matcher, tokens: list[int]) -> None:
        for token in tokens:
            if not matcher.accept_token(token):
                raise RuntimeError(f"the grammar matcher refused token {token}")

    def _feed(self, cache, attention: torch.Tensor, fed: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass over each row's new tokens (rows of different lengths are padded on
        the left and masked), so every row's last token is the last position; its logits."""
        width = max(len(row) for row in fed)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in fed], device=device)
        new_mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in fed], device=device)
        # Each row's positions continue from its own count of real tokens (padding does not count).
        start = attention.sum(dim=1, keepdim=True)
        positions = (start + new_mask.cumsum(dim=1) - 1).clamp(min=0)
        attention = torch.cat([attention, new_mask], dim=1)
        logits = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions, past_key_values=cache,
                            use_cache=True, logits_to_keep=1).logits[:, -1]
        return logits, attention

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        *,
        tools: list[dict[str, Any]] | None = None,
        n: int = 1,
        seed: int = 0,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = self.render_prompt(messages)
        generations = []
        for text, ended in self.sample(prompt, n=n, tools=tools, seed=seed):
            if ended:
                calls, invalid = parse_tool_calls(text)
            else:
                calls, invalid = [], [
                    {"name": None, "args": text[-500:], "id": "call_0", "type": "invalid_tool_call",
                     "error": f"the self-edit was cut off at max_new_tokens={self.max_new_tokens}"}
                ]
            message = AIMessage(
                content=text,
                tool_calls=calls,
                invalid_tool_calls=invalid,
                response_metadata={"finish_reason": "stop" if ended else "length", "constrained": self.constrained},
            )
            generations.append(ChatGeneration(message=message))
        return ChatResult(generations=generations, llm_output={"prompt": prompt})
