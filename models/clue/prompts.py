"""The conditional prompt: `[SOT] [state] [class] [V1..VM] [W1+π(x)..WM+π(x)] [EOT]`.

V (CoOp) are M learnable context vectors independent of the image; W (CoCoOp) are M learnable
vectors to which the image adaptor's output π(x) is added. By default both are shared by the
two states, which then differ only by their word ("normal" / "diseased"); one set per state
is an option. The fixed parts (SOT, the state and class words, EOT and padding) are CLIP's
own token embeddings, computed once and kept as buffers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clue.clip import CLIP
from clue.tokenizer import get_tokenizer


def context_init_tokens(phrase: str, n_ctx: int) -> list[int]:
    """The BPE ids of a `context_init` phrase, which must be exactly 2·n_ctx tokens long."""
    ids = get_tokenizer().encode(phrase)
    if len(ids) != 2 * n_ctx:
        raise ValueError(
            f"context_init {phrase!r} is {len(ids)} BPE tokens; it must be exactly 2 × n_ctx = "
            f"{2 * n_ctx} (V takes the first n_ctx, W the rest)"
        )
    return ids


class ImageAdaptor(nn.Module):
    """CoCoOp's meta-net: Linear(d, d/16) → ReLU → Linear(d/16, d_ctx).

    Input: the normalized projected CLS feature of the last layer; output π(x), one bias
    added to every W vector.
    """

    def __init__(self, embed_dim: int, context_width: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, embed_dim // reduction)
        self.linear1 = nn.Linear(embed_dim, hidden)
        self.relu = nn.ReLU()
        self.linear2 = nn.Linear(hidden, context_width)

    def forward(self, image_feature: Tensor) -> Tensor:
        return self.linear2(self.relu(self.linear1(image_feature)))


class PromptLearner(nn.Module):
    """Builds both states' prompt embeddings [B, 2, context, width] for a batch of images.

    Token layout per state s (its EOT index differs when the state words have a different
    number of BPE tokens, e.g. "normal" is one token, "diseased" two):
      prefix_s = SOT, state-word tokens, class-name tokens
      then M V-vectors, M W-vectors (+π(x)), then suffix_s = EOT and zero padding.
    """

    def __init__(
        self,
        clip: CLIP,
        n_ctx: int = 32,
        state_words: tuple[str, str] = ("normal", "diseased"),
        class_name: str = "brain",
        per_state_context: bool = False,
        init_std: float = 0.02,
        context_init: str | None = None,
    ) -> None:
        super().__init__()
        tokenizer = get_tokenizer()
        width = clip.config.text_width
        context_length = clip.config.context_length
        self.n_ctx = n_ctx
        self.per_state_context = per_state_context
        self.state_words = tuple(state_words)
        self.class_name = class_name
        n_sets = 2 if per_state_context else 1
        self.context_v = nn.Parameter(torch.randn(n_sets, n_ctx, width) * init_std)
        self.context_w = nn.Parameter(torch.randn(n_sets, n_ctx, width) * init_std)
        if context_init is not None:
            self._initialise_context(clip, context_init)

        prefix_ids: list[list[int]] = []
        for word in self.state_words:
            prefix_ids.append([tokenizer.sot_token_id] + tokenizer.encode(word) + tokenizer.encode(class_name))
        longest = max(len(ids) for ids in prefix_ids)
        if longest + 2 * n_ctx + 1 > context_length:
            raise ValueError(
                f"prompt too long: {longest} word tokens + 2×{n_ctx} context vectors + EOT "
                f"exceed CLIP's context of {context_length}"
            )
        embedding = clip.token_embedding
        prefixes, suffixes, eot_positions = [], [], []
        with torch.no_grad():
            for ids in prefix_ids:
                suffix_length = context_length - len(ids) - 2 * n_ctx
                suffix_ids = [tokenizer.eot_token_id] + [0] * (suffix_length - 1)
                prefixes.append(embedding(torch.tensor(ids)).float())
                suffixes.append(embedding(torch.tensor(suffix_ids)).float())
                eot_positions.append(len(ids) + 2 * n_ctx)
        # Prefix lengths can differ between states: keep one buffer per state.
        self.prefix_lengths = [int(p.shape[0]) for p in prefixes]
        for index, (prefix, suffix) in enumerate(zip(prefixes, suffixes)):
            self.register_buffer(f"prefix_{index}", prefix.clone(), persistent=False)
            self.register_buffer(f"suffix_{index}", suffix.clone(), persistent=False)
        self.register_buffer("eot_positions", torch.tensor(eot_positions), persistent=False)

    def _initialise_context(self, clip: CLIP, phrase: str) -> None:
        """CoOp's `ctx_init`: start V and W from the token embeddings of a phrase of exactly
        2·M BPE tokens (V the first M, W the rest), so that the initial prompt reads
        "[state] [class] <phrase>" — e.g. "normal brain tissue in an MRI slice." with M = 3,
        the words a backbone pre-trained on such region captions already understands."""
        ids = context_init_tokens(phrase, self.n_ctx)
        with torch.no_grad():
            vectors = clip.token_embedding(torch.tensor(ids)).float()
            self.context_v.copy_(vectors[: self.n_ctx].expand_as(self.context_v))
            self.context_w.copy_(vectors[self.n_ctx :].expand_as(self.context_w))

    def forward(self, bias: Tensor) -> tuple[Tensor, Tensor]:
        """`bias` = π(x) [B, width] → embeddings [B·2, context, width] (image-major: rows
        2b, 2b+1 are image b's normal and diseased prompts) and their EOT positions [B·2]."""
        batch = bias.shape[0]
        rows = []
        for state in range(2):
            context_set = state if self.per_state_context else 0
            prefix = getattr(self, f"prefix_{state}").expand(batch, -1, -1)
            suffix = getattr(self, f"suffix_{state}").expand(batch, -1, -1)
            fixed_context = self.context_v[context_set].expand(batch, -1, -1)
            conditioned = self.context_w[context_set].unsqueeze(0) + bias.unsqueeze(1)
            rows.append(torch.cat([prefix, fixed_context, conditioned, suffix], dim=1))
        embeddings = torch.stack(rows, dim=1).flatten(0, 1)  # [B, 2, ctx, width] → [2B, ctx, width]
        eot = self.eot_positions.repeat(batch)
        return embeddings, eot


class TextEncoder(nn.Module):
    """The frozen text tower, fed with prompt embeddings; returns normalized features."""

    def __init__(self, clip: CLIP) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, embeddings: Tensor, eot_positions: Tensor) -> Tensor:
        return F.normalize(self.clip.encode_text_embeddings(embeddings, eot_positions), dim=-1)


class PrefixCachedTextEncoder(nn.Module):
    """The text tower for a *frozen* prompt learner, computing only what depends on the image.

    The text transformer is causal, so every layer's hidden state at a position depends only
    on the tokens up to it. `[SOT] [state] [class] [V1..VM]` does not depend on the image: its
    keys and values are computed once here, per state and layer, and kept as constants. Per
    image only `[W1+π(x) .. WM+π(x)] [EOT]` runs through the tower (attending to the cached
    prefix), and in the last block only the EOT row, the one CLIP reads, goes through the
    attention output and the MLP. The padding after EOT is never computed. For a 77-token
    context with M = 32 that is 33 of 77 token rows per prompt.

    Numerically this is the same computation as `PromptLearner` + `TextEncoder` (equal to
    float rounding); `CLUE.cache_prompt_prefix()` builds it after training, for evaluation
    and export.
    """

    def __init__(self, clip: CLIP, prompts: PromptLearner) -> None:
        super().__init__()
        blocks = clip.transformer.resblocks
        width = clip.config.text_width
        heads = clip.config.text_heads
        n_ctx = prompts.n_ctx
        self.heads = heads
        self.head_width = width // heads
        self.blocks = blocks
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.per_state_context = prompts.per_state_context

        prefix_lengths = [length + n_ctx for length in prompts.prefix_lengths]
        longest = max(prefix_lengths)
        keys = torch.zeros(len(blocks), 2, heads, longest, self.head_width)
        values = torch.zeros_like(keys)
        # Additive attention mask over the cached prefix: a shorter state's padding is -inf.
        prefix_mask = torch.zeros(2, 1, 1, longest)
        positions = []
        eot_embeddings = []
        with torch.no_grad():
            for state in range(2):
                context_set = state if self.per_state_context else 0
                prefix = torch.cat([getattr(prompts, f"prefix_{state}"), prompts.context_v[context_set]], dim=0)
                length = prefix.shape[0]
                prefix_mask[state, ..., length:] = float("-inf")
                x = (prefix + clip.positional_embedding[:length]).unsqueeze(0)
                causal = clip.attn_mask[:length, :length]
                for index, block in enumerate(blocks):
                    key, value = self._keys_values(block, block.ln_1(x))
                    keys[index, state, :, :length] = key[0]
                    values[index, state, :, :length] = value[0]
                    x = block(x, causal)
                positions.append(clip.positional_embedding[length : length + n_ctx + 1])
                eot_embeddings.append(getattr(prompts, f"suffix_{state}")[:1])
        self.register_buffer("prefix_keys", keys, persistent=False)
        self.register_buffer("prefix_values", values, persistent=False)
        self.register_buffer("prefix_mask", prefix_mask, persistent=False)
        self.register_buffer("positions", torch.stack(positions), persistent=False)  # [2, M+1, width]
        self.register_buffer("eot_embeddings", torch.stack(eot_embeddings), persistent=False)  # [2, 1, width]
        self.register_buffer("context_w", prompts.context_w.detach().clone(), persistent=False)
        # Causal mask among the per-image rows (they all see the whole prefix).
        rows = n_ctx + 1
        self.register_buffer("suffix_mask", torch.full((rows, rows), float("-inf")).triu(1), persistent=False)

    def _keys_values(self, block: nn.Module, normed: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values [B, heads, length, head_width] of `block`'s attention."""
        batch, length, width = normed.shape
        attention = block.attn
        packed = F.linear(normed, attention.in_proj_weight[width:], attention.in_proj_bias[width:])
        packed = packed.reshape(batch, length, 2, self.heads, self.head_width).permute(2, 0, 3, 1, 4)
        return packed[0], packed[1]

    def _attend(self, block: nn.Module, normed: Tensor, query_rows: slice, layer: int) -> Tensor:
        """Attention output for the query rows of `normed` [2B, rows, width] over the cached
        prefix and the per-image rows (causal)."""
        batch2, rows, width = normed.shape
        batch = batch2 // 2
        attention = block.attn
        key, value = self._keys_values(block, normed)
        query_input = normed[:, query_rows]
        query = F.linear(query_input, attention.in_proj_weight[:width], attention.in_proj_bias[:width])
        query = query.reshape(batch2, query.shape[1], self.heads, self.head_width).transpose(1, 2)
        cached_keys = self.prefix_keys[layer].repeat(batch, 1, 1, 1)  # image-major: states alternate
        cached_values = self.prefix_values[layer].repeat(batch, 1, 1, 1)
        keys = torch.cat([cached_keys, key], dim=2)
        values = torch.cat([cached_values, value], dim=2)
        mask = torch.cat(
            [
                self.prefix_mask.repeat(batch, 1, query.shape[2], 1),
                self.suffix_mask[query_rows].expand(batch2, 1, -1, -1),
            ],
            dim=-1,
        )
        scores = torch.matmul(query * (self.head_width**-0.5), keys.transpose(-2, -1)) + mask
        attended = torch.matmul(scores.softmax(dim=-1), values)
        attended = attended.transpose(1, 2).reshape(batch2, query.shape[2], width)
        return attention.out_proj(attended)

    def forward(self, bias: Tensor) -> Tensor:
        """π(x) [B, width] → normalized text features [B, 2, embed_dim] (normal, diseased)."""
        batch = bias.shape[0]
        rows = []
        for state in range(2):
            context_set = state if self.per_state_context else 0
            conditioned = self.context_w[context_set].unsqueeze(0) + bias.unsqueeze(1)
            eot = self.eot_embeddings[state].expand(batch, -1, -1)
            rows.append(torch.cat([conditioned, eot], dim=1) + self.positions[state])
        x = torch.stack(rows, dim=1).flatten(0, 1)  # [2B, M+1, width], image-major
        last = len(self.blocks) - 1
        for index, block in enumerate(self.blocks):
            normed = block.ln_1(x)
            if index < last:
                x = x + self._attend(block, normed, slice(None), index)
                x = x + block.mlp(block.ln_2(x))
            else:  # CLIP reads only the EOT row: the others need no attention output or MLP
                x = x[:, -1:] + self._attend(block, normed, slice(-1, None), index)
                x = x + block.mlp(block.ln_2(x))
        features = self.ln_final(x[:, 0]) @ self.text_projection
        return F.normalize(features, dim=-1).reshape(batch, 2, -1)
