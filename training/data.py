"""Labeled sentence data: loading and validation, context, duplicate clusters and grouped folds.

A labeled file is JSONL with at least `id`, `text`, `stance` and `frame`. Rows cut from an
article (the seeds, the team-written articles, the development set) also carry `article`,
`start` and `end`, every sentence of each article is labeled, and so each sentence's
context can be rebuilt from its neighbours. Isolated team-written sentences carry
`source`, `voice` and `group` instead. Rows added by `stanceframe import-labels`
(`imported.jsonl`) are isolated sentences with the `context` they were labeled in and
their provenance: `source`, `annotator`, `imported_at` and `export_file`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.labels import LABEL_TO_ID, check_label

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED_SENTENCES = DATA_DIR / "seed_sentences.jsonl"
TEAM_WRITTEN = DATA_DIR / "team_written.jsonl"
ARTICLE_SENTENCES = DATA_DIR / "article_sentences.jsonl"
CONTRAST_PAIRS = DATA_DIR / "contrast_pairs.jsonl"
DEV_SENTENCES = DATA_DIR / "dev" / "sentences.jsonl"
# Labels brought back from a labeling tool; a training file of training/config.json.
IMPORTED_NAME = "imported.jsonl"
IMPORTED = DATA_DIR / IMPORTED_NAME
REQUIRED_FIELDS = ("id", "text", "stance", "frame")
# Two sentences whose word 3-gram sets overlap this much are one near-duplicate cluster.
NEAR_DUPLICATE_JACCARD = 0.5


class DataError(ValueError):
    """A labeled data file is malformed."""


@dataclass(frozen=True)
class LabeledSentence:
    id: str
    text: str
    stance: str
    frame: str
    source: str
    group_hint: str | None = None
    article: str | None = None
    start: int = 0
    # The context an isolated sentence was labeled in (article rows rebuild theirs).
    context: str | None = None
    file: str = ""
    annotator: str | None = None
    imported_at: str | None = None
    export_file: str | None = None


def _row_to_sentence(row: object, where: str, default_source: str, file_name: str = "") -> LabeledSentence:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, found {type(row).__name__}.")
    missing = [field for field in REQUIRED_FIELDS if field not in row]
    if missing:
        raise DataError(
            f"{where}: missing field(s) {missing}; every row needs {list(REQUIRED_FIELDS)}."
        )
    text = row["text"]
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: `text` must be a non-empty string, found {text!r}.")
    try:
        stance = check_label("stance", row["stance"])
        frame = check_label("frame", row["frame"])
    except ValueError as error:
        raise DataError(f"{where}: {error}") from error
    group, article = row.get("group"), row.get("article")
    if article is not None and not isinstance(row.get("start"), int):
        raise DataError(f"{where}: a row with `article` needs an integer `start`, found {row.get('start')!r}.")
    for field in ("context", "annotator", "imported_at", "export_file"):
        if row.get(field) is not None and not isinstance(row[field], str):
            raise DataError(f"{where}: `{field}` must be a string when given, found {row[field]!r}.")
    return LabeledSentence(
        id=str(row["id"]),
        text=text,
        stance=stance,
        frame=frame,
        source=str(row.get("source") or default_source),
        # Sentences of one article are not independent evidence: one cluster per article.
        group_hint=f"article:{article}" if article else (f"{default_source}:{group}" if group else None),
        article=str(article) if article else None,
        start=int(row.get("start") or 0),
        context=row.get("context") or None,
        file=file_name,
        annotator=row.get("annotator"),
        imported_at=row.get("imported_at"),
        export_file=row.get("export_file"),
    )


def load_labeled(paths: Iterable[str | Path]) -> list[LabeledSentence]:
    """Read and validate labeled JSONL files, in order. Ids must be unique across files."""
    sentences: list[LabeledSentence] = []
    seen: dict[str, str] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise DataError(f"Labeled data file {path} does not exist.")
        file_name = path.resolve().relative_to(DATA_DIR).as_posix() if path.resolve().is_relative_to(DATA_DIR) else path.name
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{where}: invalid JSON ({error}).") from error
                sentence = _row_to_sentence(row, where, default_source=path.stem, file_name=file_name)
                if sentence.id in seen:
                    raise DataError(f"{where}: id {sentence.id!r} already used at {seen[sentence.id]}.")
                seen[sentence.id] = where
                sentences.append(sentence)
    if not sentences:
        raise DataError("No labeled sentences were found in the given files.")
    return sentences


def labels_of(sentences: Sequence[LabeledSentence], head: str) -> np.ndarray:
    """Class ids of `head` ("stance" or "frame") for each sentence."""
    return np.array([LABEL_TO_ID[head][getattr(s, head)] for s in sentences], dtype=np.int64)


def contexts_of(sentences: Sequence[LabeledSentence], mode: str) -> list[str] | None:
    """Each sentence's context under `mode`, rebuilt from its article's labeled sentences.

    None for mode "none"; a sentence outside any article has the context it was labeled
    in (imported rows), else an empty one.
    """
    from model.encoding import article_contexts

    if mode == "none":
        return None
    contexts = [sentence.context or "" for sentence in sentences]
    by_article: dict[str, list[int]] = {}
    for row, sentence in enumerate(sentences):
        if sentence.article:
            by_article.setdefault(sentence.article, []).append(row)
    for rows in by_article.values():
        rows.sort(key=lambda row: sentences[row].start)
        for row, context in zip(rows, article_contexts([sentences[r].text for r in rows], mode)):
            contexts[row] = context
    return contexts


def annotation_agreement(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Cohen's kappa and raw agreement of the two label passes (`annotations` A and B), per head."""
    from sklearn.metrics import cohen_kappa_score

    result = {}
    for column, head in enumerate(("stance", "frame")):
        first = [row["annotations"]["A"][column] for row in rows]
        second = [row["annotations"]["B"][column] for row in rows]
        result[head] = {
            "kappa": float(cohen_kappa_score(first, second)),
            "agreement": float(np.mean([x == y for x, y in zip(first, second)])),
        }
    return result


def data_hash(paths: Iterable[str | Path]) -> str:
    """SHA-256 over the bytes of the data files, in order: identifies the training data."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def normalize(text: str) -> str:
    """Lower-case, fold quotes and accents, keep only words: the key for duplicate detection."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = text.split()
    if not words:
        # No ASCII word (e.g. only punctuation): nothing to compare, not a match for everything.
        return set()
    if len(words) < 3:
        return {tuple(words)}
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def duplicate_clusters(sentences: Sequence[LabeledSentence]) -> np.ndarray:
    """Cluster id per sentence: exact and near duplicates, and rows sharing a group or article.

    Near duplicates are pairs whose word 3-gram Jaccard similarity reaches
    NEAR_DUPLICATE_JACCARD; clusters are the connected components of all those links.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    sources: list[int] = []
    targets: list[int] = []
    first_with_key: dict[str, int] = {}
    for i, sentence in enumerate(sentences):
        for key in (normalize(sentence.text), sentence.group_hint):
            if key:
                sources.append(i)
                targets.append(first_with_key.setdefault(key, i))
    shingles = [_shingles(normalize(s.text)) for s in sentences]
    # Only pairs that share a shingle can reach the threshold: compare those, not all pairs.
    rows_with: dict[tuple[str, ...], list[int]] = {}
    for i, shingle_set in enumerate(shingles):
        for shingle in shingle_set:
            rows_with.setdefault(shingle, []).append(i)
    candidates = {(i, j) for rows in rows_with.values() for i in rows for j in rows if i < j}
    for i, j in candidates:
        overlap = len(shingles[i] & shingles[j])
        if overlap / len(shingles[i] | shingles[j]) >= NEAR_DUPLICATE_JACCARD:
            sources.append(i)
            targets.append(j)
    graph = coo_matrix((np.ones(len(sources)), (sources, targets)), shape=(len(sentences), len(sentences)))
    _, cluster_ids = connected_components(graph, directed=False)
    return cluster_ids


def grouped_folds(
    sentences: Sequence[LabeledSentence], clusters: np.ndarray, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped, stance-stratified k folds: a duplicate cluster never straddles train and test."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_clusters = len(np.unique(clusters))
    if n_folds < 2 or n_folds > n_clusters:
        raise DataError(
            f"Cross-validation needs 2 <= folds <= number of duplicate clusters ({n_clusters}); "
            f"got {n_folds}. Lower --folds or add data."
        )
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    stances = [s.stance for s in sentences]
    return list(splitter.split(np.zeros(len(sentences)), stances, groups=clusters))
