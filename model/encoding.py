"""Token encoding shared by training and every inference backend.

A sentence is the first segment (token type 0). Optional context, built from the
sentence's article by the model's context mode, is a second segment (token type 1): the
network pools only the first segment, so the context informs the sentence through
attention without diluting its representation. Truncation is explicit: a sentence longer
than the window is cut and flagged; context only fills the room the sentence leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# What a sentence's context is: nothing; the previous sentence of its article; or the
# article's first segment (usually the headline) followed by the previous sentence.
CONTEXT_MODES = ("none", "previous", "headline_previous")


def article_contexts(texts: Sequence[str], mode: str) -> list[str]:
    """The context of each sentence of one article, given its sentences in order."""
    if mode not in CONTEXT_MODES:
        raise ValueError(f"Unknown context mode {mode!r}; expected one of {list(CONTEXT_MODES)}.")
    contexts = []
    for index in range(len(texts)):
        parts = []
        # For the second sentence the headline is already the previous sentence.
        if mode == "headline_previous" and index >= 2:
            parts.append(texts[0])
        if mode != "none" and index >= 1:
            parts.append(texts[index - 1])
        contexts.append(" ".join(parts))
    return contexts


@dataclass
class Encoded:
    """Unpadded token ids and token types per input, and which sentences were truncated."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    truncated: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def encode(
    tokenizer,
    sentences: Sequence[str],
    contexts: Sequence[str] | None,
    max_length: int,
    context_max_tokens: int,
) -> Encoded:
    """`[CLS] sentence [SEP] context [SEP]`, the context cut to its last tokens that fit."""
    sentence_ids = tokenizer(list(sentences), add_special_tokens=True, truncation=False)["input_ids"]
    truncated = np.array([len(ids) > max_length for ids in sentence_ids], dtype=bool)
    sep = tokenizer.sep_token_id
    input_ids = [ids[: max_length - 1] + [sep] if cut else ids for ids, cut in zip(sentence_ids, truncated)]
    token_type_ids = [[0] * len(ids) for ids in input_ids]
    if contexts is not None and context_max_tokens > 0:
        if len(contexts) != len(input_ids):
            raise ValueError(f"Got {len(contexts)} contexts for {len(input_ids)} sentences; give one per sentence.")
        context_ids = tokenizer(list(contexts), add_special_tokens=False, truncation=False)["input_ids"]
        for row, context in enumerate(context_ids):
            room = min(context_max_tokens, max_length - len(input_ids[row]) - 1)
            if context and room > 0:
                # The end of the context is the previous sentence, the part nearest the sentence.
                kept = context[-room:] + [sep]
                input_ids[row] = input_ids[row] + kept
                token_type_ids[row] = token_type_ids[row] + [1] * len(kept)
    return Encoded(input_ids=input_ids, token_type_ids=token_type_ids, truncated=truncated)


def pad_batch(encoded: Encoded, rows: Sequence[int], pad_token_id: int) -> dict[str, np.ndarray]:
    """The `rows` of `encoded`, right-padded to their longest: int64 arrays for the network."""
    width = max(len(encoded.input_ids[row]) for row in rows)
    input_ids = np.full((len(rows), width), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(rows), width), dtype=np.int64)
    token_type_ids = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        length = len(encoded.input_ids[row])
        input_ids[i, :length] = encoded.input_ids[row]
        attention_mask[i, :length] = 1
        token_type_ids[i, :length] = encoded.token_type_ids[row]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
