"""Nearest labeled examples: the training sentences closest to a sentence in the model's own embedding space.

Training builds the index (`training/neighbour_index.py`) from the labeled training
sentences, each embedded with its context as the model saw it (`Predictor.embed`), and
saves it in the model folder, so it ships with the model:

- `neighbours/embeddings.safetensors`: the L2-normalised embeddings (float16) per
  precision (`fp32`: the torch and ONNX fp32 backends, which agree to 1e-6; `int8`: the
  int8 export, whose vectors differ by about 0.4% and would otherwise not find a training
  sentence at similarity 1), and the gold label ids of each head;
- `neighbours/index.json`: a header with the label lists and the SHA-256 of the weights
  the embeddings came from, then each row's id, text and gold labels.

Loading refuses an index whose label lists differ from `model/labels.py` or whose weights
are not the model's. Search is an exact cosine top-k: one matrix product over all rows
(about 7,000 of 384 floats) on one BLAS thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.labels import FRAME_LABELS, HEADS, STANCE_LABELS
from model.schema import Neighbour

logger = logging.getLogger(__name__)

INDEX_DIR = "neighbours"
EMBEDDINGS_FILE = "embeddings.safetensors"
ROWS_FILE = "index.json"
FORMAT_VERSION = 1
# The weights `save_pretrained` writes; the index records their hash.
WEIGHTS_FILE = "model.safetensors"
# The most neighbours a caller may ask for per sentence (service and CLI).
MAX_NEIGHBOURS = 20
PRECISIONS = ("fp32", "int8")


class NeighbourIndexError(ValueError):
    """The model has no usable neighbour index: missing, or built for other labels or other weights."""


def precision_of(backend: str) -> str:
    """Which embeddings of the index a backend's queries are compared with."""
    return "int8" if backend == "onnx-int8" else "fp32"


def weights_sha256(model_dir: str | Path) -> str:
    """SHA-256 of the model's weights file: which network the index's embeddings came from."""
    digest = hashlib.sha256()
    with (Path(model_dir) / WEIGHTS_FILE).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_index(
    model_dir: str | Path, embeddings: dict[str, np.ndarray], rows: Sequence[dict]
) -> Path:
    """Write the index of `rows` ({id, text, stance, frame}) and their `embeddings` per precision into `model_dir`."""
    from safetensors.numpy import save_file

    unknown = set(embeddings) - set(PRECISIONS)
    if unknown or "fp32" not in embeddings:
        raise ValueError(f"Embeddings are keyed by precision {list(PRECISIONS)} and need fp32; got {sorted(embeddings)}.")
    for precision, matrix in embeddings.items():
        if matrix.shape[0] != len(rows):
            raise ValueError(f"{precision} embeddings have {matrix.shape[0]} rows for {len(rows)} sentences.")
    folder = Path(model_dir) / INDEX_DIR
    folder.mkdir(exist_ok=True)
    tensors = {f"embeddings.{precision}": np.ascontiguousarray(matrix, dtype=np.float16)
               for precision, matrix in embeddings.items()}
    for head, labels in HEADS.items():
        ids = {label: i for i, label in enumerate(labels)}
        tensors[f"{head}_ids"] = np.array([ids[row[head]] for row in rows], dtype=np.int64)
    save_file(tensors, str(folder / EMBEDDINGS_FILE))
    header = {
        "format_version": FORMAT_VERSION,
        "stance_labels": list(STANCE_LABELS),
        "frame_labels": list(FRAME_LABELS),
        "weights_sha256": weights_sha256(model_dir),
        "hidden_size": int(embeddings["fp32"].shape[1]),
        "precisions": sorted(embeddings),
        "count": len(rows),
    }
    document = header | {"rows": [{name: str(row[name]) for name in ("id", "text", "stance", "frame")} for row in rows]}
    (folder / ROWS_FILE).write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("Saved a neighbour index of %d sentences (%s) to %s", len(rows), ", ".join(sorted(embeddings)), folder)
    return folder


class NeighbourIndex:
    """The labeled training sentences and their embeddings (one precision), searchable by cosine similarity."""

    def __init__(self, embeddings: np.ndarray, rows: Sequence[dict], stance_ids: np.ndarray, frame_ids: np.ndarray):
        from threadpoolctl import ThreadpoolController

        self.blas = ThreadpoolController()
        self.embeddings = embeddings
        self.rows = rows
        self.stance_ids = stance_ids
        self.frame_ids = frame_ids

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def load(cls, model_dir: str | Path, backend: str) -> NeighbourIndex:
        """The index saved with the model in `model_dir`, for queries embedded on `backend`; checked before use."""
        from safetensors.numpy import load_file

        folder = Path(model_dir) / INDEX_DIR
        if not (folder / ROWS_FILE).is_file() or not (folder / EMBEDDINGS_FILE).is_file():
            raise NeighbourIndexError(
                f"The model at {model_dir} has no neighbour index ({INDEX_DIR}/{ROWS_FILE} and {EMBEDDINGS_FILE}): "
                f"it was trained before training built one. Retrain with `stanceframe train`."
            )
        document = json.loads((folder / ROWS_FILE).read_text(encoding="utf-8"))
        for head, labels in HEADS.items():
            if document.get(f"{head}_labels") != list(labels):
                raise NeighbourIndexError(
                    f"The neighbour index at {folder} was built with {head} labels {document.get(f'{head}_labels')}, "
                    f"but this code expects {list(labels)}. Retrain with `stanceframe train`."
                )
        expected = weights_sha256(model_dir)
        if document.get("weights_sha256") != expected:
            raise NeighbourIndexError(
                f"The neighbour index at {folder} was built for other weights (SHA-256 "
                f"{str(document.get('weights_sha256'))[:12]}…) than the model's {WEIGHTS_FILE} ({expected[:12]}…): "
                f"its similarities would be meaningless. Retrain with `stanceframe train`, which rebuilds it."
            )
        tensors = load_file(str(folder / EMBEDDINGS_FILE))
        precision = precision_of(backend)
        if f"embeddings.{precision}" not in tensors:
            logger.warning("The neighbour index has no %s embeddings; comparing with the fp32 ones", precision)
            precision = "fp32"
        embeddings = tensors[f"embeddings.{precision}"].astype(np.float32)
        # float16 storage moves the norms by about 1e-3: renormalised, a training sentence is at similarity 1.
        embeddings /= np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        rows = document["rows"]
        if not len(rows) == len(embeddings) == len(tensors["stance_ids"]) == len(tensors["frame_ids"]):
            raise NeighbourIndexError(f"The neighbour index at {folder} is inconsistent: its files hold different row counts.")
        return cls(embeddings, rows, tensors["stance_ids"], tensors["frame_ids"])

    def search(self, queries: np.ndarray, k: int) -> list[list[Neighbour]]:
        """The `k` most similar labeled sentences to each (L2-normalised) query row, most similar first."""
        k = min(k, len(self.rows))
        if k <= 0 or not len(queries):
            return [[] for _ in range(len(queries))]
        # One BLAS thread: waking OpenBLAS's pool on two cores shared with the inference threads made one
        # query take 13-25 ms instead of 0.7 ms, and 789 queries 91 ms instead of 41 ms.
        with self.blas.limit(limits=1, user_api="blas"):
            similarities = queries.astype(np.float32, copy=False) @ self.embeddings.T
        top = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
        found = []
        for row_similarities, candidates in zip(similarities, top):
            # Most similar first; equal similarities in index order.
            order = candidates[np.lexsort((candidates, -row_similarities[candidates]))]
            found.append([
                Neighbour.model_construct(
                    id=self.rows[i]["id"], text=self.rows[i]["text"],
                    stance=STANCE_LABELS[self.stance_ids[i]], frame=FRAME_LABELS[self.frame_ids[i]],
                    similarity=float(row_similarities[i]),
                )
                for i in order
            ])
        return found
