"""Why a sentence got its label: its nearest labeled training sentences, and which words mattered.

Neighbours come from one forward pass that gives the predictions and the pooled embeddings
together (`Predictor.predict_and_embed`), searched in the index saved with the model
(`model/neighbours.py`).

Word attributions are leave-one-word-out occlusion: each word's tokens are removed from the
encoded input (its context kept) and the sentence is run again; a word's score is the
predicted stance's calibrated probability minus that probability without the word. It
needs only the network's logits, so it runs on every backend, the torch-free ONNX one the
service uses included; a sentence of n words costs n + 1 rows of inference. Words are the
tokenizer's words (whitespace and punctuation split, word pieces joined), with character
offsets from its offset mapping; words cut off by the model window get no score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.encoding import Encoded
from model.labels import STANCE_LABELS
from model.predictor import Predictor, softmax
from model.schema import Explanation, TokenAttribution


def word_positions(predictor: Predictor, sentence: str, window: int) -> list[tuple[int, int, list[int]]]:
    """(start, end, token positions) of each word of `sentence` among the first `window` input positions.

    Positions count [CLS] as 0, as `model/encoding.py` lays the sentence out.
    """
    tokens = predictor.tokenizer(sentence, add_special_tokens=True, return_offsets_mapping=True)
    offsets = tokens["offset_mapping"]
    words: dict[int, list[int]] = {}
    for position, word in enumerate(tokens.word_ids()):
        if word is not None and position < window:
            words.setdefault(word, []).append(position)
    return [(offsets[positions[0]][0], offsets[positions[-1]][1], positions) for positions in words.values()]


def stance_occlusion(
    predictor: Predictor, sentences: Sequence[str], contexts: Sequence[str] | None = None
) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
    """Per sentence: its words' (start, end) and, per word, the drop of each stance label's probability without it.

    The drops are an array of shape (words, stance labels); all sentences and their
    variants run as one batch.
    """
    encoded = predictor.encode(sentences, contexts)
    input_ids: list[list[int]] = []
    token_types: list[list[int]] = []
    layout = []
    for row, sentence in enumerate(sentences):
        ids, types = encoded.input_ids[row], encoded.token_type_ids[row]
        # The sentence's own tokens end before its [SEP]: where the context (token type 1) starts, less one.
        sentence_end = types.index(1) - 1 if 1 in types else len(ids) - 1
        words = word_positions(predictor, sentence, sentence_end)
        layout.append((len(input_ids), words))
        input_ids.append(ids)
        token_types.append(types)
        for _, _, positions in words:
            dropped = set(positions)
            input_ids.append([token for i, token in enumerate(ids) if i not in dropped])
            token_types.append([kind for i, kind in enumerate(types) if i not in dropped])
    variants = Encoded(input_ids=input_ids, token_type_ids=token_types, truncated=np.zeros(len(input_ids), dtype=bool))
    stance_logits, _, _ = predictor.run_encoded(variants)
    stance = softmax(stance_logits, predictor.config.stance_temperature, predictor.config.stance_logit_bias)
    results = []
    for first, words in layout:
        drops = stance[first] - stance[first + 1 : first + 1 + len(words)]
        results.append(([(start, end) for start, end, _ in words], drops.reshape(len(words), len(STANCE_LABELS))))
    return results


def attributions(
    predictor: Predictor, sentences: Sequence[str], contexts: Sequence[str] | None, stances: Sequence[str]
) -> list[list[TokenAttribution]]:
    """Each word's attribution to the given stance of its sentence (the predicted one, for explanations)."""
    found = []
    for sentence, stance, (spans, drops) in zip(sentences, stances, stance_occlusion(predictor, sentences, contexts)):
        column = STANCE_LABELS.index(stance)
        found.append([
            TokenAttribution.model_construct(token=sentence[start:end], start=start, end=end, score=float(drop[column]))
            for (start, end), drop in zip(spans, drops)
        ])
    return found


def neighbours_unavailable(predictor: Predictor) -> str | None:
    """Why `predictor` cannot give neighbours (no usable index, or no pooled output), or None when it can.

    Loads and checks the index, so a caller can do it before the first request.
    """
    from model.neighbours import NeighbourIndexError
    from model.predictor import EmbeddingsUnavailable

    try:
        predictor.neighbour_index()
        predictor.embed(["A sentence."])
    except (NeighbourIndexError, EmbeddingsUnavailable) as error:
        return str(error)
    return None


def explain(
    predictor: Predictor,
    sentences: Sequence[str],
    contexts: Sequence[str] | None = None,
    neighbours: int = 5,
    with_attributions: bool = False,
) -> list[Explanation]:
    """Predictions with the `neighbours` nearest labeled training sentences and, when asked, word attributions.

    Neighbours need the model's index and pooled output (NeighbourIndexError,
    EmbeddingsUnavailable otherwise); with `neighbours=0` neither is used.
    """
    if neighbours > 0:
        index = predictor.neighbour_index()
        predictions, embeddings = predictor.predict_and_embed(sentences, contexts)
        found = index.search(embeddings, neighbours)
    else:
        predictions = predictor.predict(sentences, contexts)
        found = [[] for _ in sentences]
    words = (
        attributions(predictor, sentences, contexts, [p.stance for p in predictions])
        if with_attributions else [None] * len(sentences)
    )
    return [
        Explanation.model_construct(**dict(prediction), neighbours=near, attributions=scores)
        for prediction, near, scores in zip(predictions, found, words)
    ]
