"""Baselines the model is compared with, each trained on exactly the model's training rows.

- majority class;
- TF-IDF word 1-2-grams + class-balanced logistic regression;
- the frozen all-MiniLM-L6-v2 encoder (mean-pooled sentence embeddings, no fine-tuning)
  + class-balanced logistic regression: what fine-tuning adds over the encoder as is.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from training.data import LabeledSentence, labels_of

BASELINES = ("majority", "tfidf_logreg", "frozen_minilm_logreg")
EMBEDDING_BATCH = 64


@functools.lru_cache(maxsize=1)
def _frozen_encoder():
    from transformers import AutoModel, AutoTokenizer

    from model.network import base_model_path

    path = base_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def frozen_embeddings(texts: Sequence[str]) -> np.ndarray:
    """Mean-pooled, L2-normalised all-MiniLM-L6-v2 embeddings (the encoder's own sentence vectors)."""
    import torch

    tokenizer, encoder = _frozen_encoder()
    vectors = []
    with torch.inference_mode():
        for begin in range(0, len(texts), EMBEDDING_BATCH):
            batch = tokenizer(list(texts[begin : begin + EMBEDDING_BATCH]), padding=True, truncation=True,
                              max_length=128, return_tensors="pt")
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            vectors.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(vectors) if vectors else np.zeros((0, encoder.config.hidden_size), dtype=np.float32)


def baseline_predictions(
    train: Sequence[LabeledSentence], test: Sequence[LabeledSentence], head: str, seed: int
) -> dict[str, np.ndarray]:
    """Each baseline, fitted on `train`, predicting `test` (class ids of `head`)."""
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    y_train = labels_of(train, head)
    texts_train, texts_test = [s.text for s in train], [s.text for s in test]
    majority = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(train), 1)), y_train)
    only = majority.predict(np.zeros((len(test), 1)))
    if len(np.unique(y_train)) < 2:
        return {name: only for name in BASELINES}
    tfidf = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed),
    ).fit(texts_train, y_train)
    frozen = LogisticRegression(max_iter=3000, C=10.0, class_weight="balanced", random_state=seed).fit(
        _embeddings_cached(tuple(texts_train)), y_train
    )
    return {
        "majority": only,
        "tfidf_logreg": tfidf.predict(texts_test),
        "frozen_minilm_logreg": frozen.predict(_embeddings_cached(tuple(texts_test))),
    }


@functools.lru_cache(maxsize=8)
def _embeddings_cached(texts: tuple[str, ...]) -> np.ndarray:
    """Embeddings are the same for both heads: compute each text set once."""
    return frozen_embeddings(texts)
