"""The nearest-neighbour index of a trained model: its labeled training sentences, embedded by the model itself.

`stanceframe train` calls `build_neighbour_index` after the ONNX export, with the training
sentences only (the development set is held out, so its sentences are never anyone's
neighbours) and each sentence's context as the model saw it in training. It embeds them
once per precision the model can serve (`model/neighbours.py`): fp32 with the ONNX fp32
export when there is one (the same vectors as torch, about three times faster here), else
torch; int8 with the int8 export.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.neighbours import save_index
from model.onnx_backend import ONNX_DIR, ONNX_FILES
from model.predictor import Predictor
from training.data import LabeledSentence

logger = logging.getLogger(__name__)

# Sentences per progress step.
CHUNK = 256


def embed_all(predictor: Predictor, texts: Sequence[str], contexts: Sequence[str] | None, description: str) -> np.ndarray:
    from tqdm.auto import tqdm

    parts = []
    with tqdm(total=len(texts), desc=description, unit="sentence", disable=None, file=sys.stderr) as progress:
        for begin in range(0, len(texts), CHUNK):
            end = begin + CHUNK
            parts.append(predictor.embed(texts[begin:end], None if contexts is None else contexts[begin:end]))
            progress.update(len(parts[-1]))
    return np.concatenate(parts)


def build_neighbour_index(
    model_dir: str | Path, sentences: Sequence[LabeledSentence], contexts: Sequence[str] | None
) -> dict:
    """Embed `sentences` (with `contexts`) with the saved model in `model_dir` and save its neighbour index there."""
    started = time.monotonic()
    model_dir = Path(model_dir)
    exported = {backend: (model_dir / ONNX_DIR / name).is_file() for backend, name in ONNX_FILES.items()}
    backends = {"fp32": "onnx-fp32" if exported["onnx-fp32"] else "torch"}
    if exported["onnx-int8"]:
        backends["int8"] = "onnx-int8"
    texts = [s.text for s in sentences]
    embeddings = {}
    for precision, backend in backends.items():
        predictor = Predictor.from_directory(model_dir, backend=backend)
        embeddings[precision] = embed_all(predictor, texts, contexts, f"neighbour index ({backend})")
    rows = [{"id": s.id, "text": s.text, "stance": s.stance, "frame": s.frame} for s in sentences]
    save_index(model_dir, embeddings, rows)
    # The time is logged, not returned: the summary goes into metrics.json, which two identical runs must reproduce.
    logger.info("Built the neighbour index of %d sentences (%s) in %.0f s", len(rows), backends, time.monotonic() - started)
    return {"sentences": len(rows), "precisions": backends}
