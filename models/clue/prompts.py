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
