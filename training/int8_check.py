"""Does the int8 export keep the fp32 model's labels? The rule that makes it the default.

On labeled sentences (the development set at training time), per head: the share of sentences where int8 and fp32 give
the same label, and the macro-F1 of each against the gold labels. int8 passes when every
head agrees on at least `MIN_AGREEMENT` of the sentences and its macro-F1 moves by at
most `MAX_MACRO_F1_CHANGE`. `stanceframe train` writes the result next to the ONNX files,
where the predictor's `auto` backend reads it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from model.labels import HEADS
from model.onnx_backend import INT8_CHECK_FILE, ONNX_DIR
from model.predictor import Predictor
from training.data import LabeledSentence, labels_of
from training.metrics import macro_f1

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.99
MAX_MACRO_F1_CHANGE = 0.01


def compare_int8(
    model_dir: str | Path,
    sentences: Sequence[LabeledSentence],
    contexts: Sequence[str] | None,
    corpus: str,
) -> dict:
    """Label agreement of int8 with fp32, macro-F1 of both, and the verdict, on `sentences`."""
    texts = [s.text for s in sentences]
    if not texts:
        raise ValueError("The int8 check needs labeled sentences; found none.")
    predicted = {
        precision: Predictor.from_directory(model_dir, backend=backend).probabilities(texts, contexts)
        for precision, backend in (("fp32", "torch"), ("int8", "onnx-int8"))
    }
    result: dict = {
        "corpus": corpus,
        "sentences": len(texts),
        "rule": f"per head: agreement >= {MIN_AGREEMENT} and |macro-F1 change| <= {MAX_MACRO_F1_CHANGE}",
    }
    passed = True
    for head in HEADS:
        truth = labels_of(sentences, head)
        fp32, int8 = (getattr(predicted[p], head).argmax(axis=1) for p in ("fp32", "int8"))
        change = macro_f1(truth, int8) - macro_f1(truth, fp32)
        result[head] = {
            "agreement": round(float((fp32 == int8).mean()), 4),
            "macro_f1_fp32": round(macro_f1(truth, fp32), 4),
            "macro_f1_int8": round(macro_f1(truth, int8), 4),
            "macro_f1_change": round(change, 4),
        }
        passed = passed and result[head]["agreement"] >= MIN_AGREEMENT and abs(change) <= MAX_MACRO_F1_CHANGE
    result["passed"] = passed
    return result


def check_int8(
    model_dir: str | Path, sentences: Sequence[LabeledSentence], contexts: Sequence[str] | None, corpus: str
) -> dict:
    """`compare_int8`, written next to the ONNX files for the predictor's `auto` backend."""
    result = compare_int8(model_dir, sentences, contexts, corpus)
    (Path(model_dir) / ONNX_DIR / INT8_CHECK_FILE).write_text(json.dumps(result, indent=2) + "\n")
    logger.info("int8 vs fp32 on %d %s: %s", result["sentences"], corpus, json.dumps(result))
    return result
