"""`stanceframe suggest SCORED... --n 50 --output batch.json`: what to label next.

SCORED are files written by `stanceframe score` (JSONL, CSV or Parquet); their error rows
are skipped and counted. The suggestions are the sentences the model is least sure of,
no two of them near-duplicates, none already labeled:

1. Sentences already in the labeled corpus (training and development files of the
   config, imported labels included) are dropped by normalized text, the key
   `stanceframe import-labels` de-duplicates with; so are repeats within SCORED.
2. Uncertainty: the margin between the two most probable stance labels (smaller is more
   uncertain), the frame margin breaking ties.
3. Diversity: the `--pool` x n most uncertain sentences are embedded (`Predictor.embed`,
   L2-normalized, with the context the model reads), then taken in uncertainty order,
   skipping any whose cosine similarity to one already taken reaches `--max-similarity`
   (a greedy cover: the most uncertain sentence of every near-duplicate neighbourhood).

Output (`--format`): Label Studio tasks with the model's labels as pre-annotations
(`predictions` with `model_version` and `score`; import them into a project with the
labeling config `--print-label-config` prints), Argilla 2.x records (fields, suggestions
with scores and agent, metadata; `rg.Record.from_dict`), or plain JSONL.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.labels import FRAME_LABELS, HEADS, STANCE_LABELS
from training.config import DEFAULT_CONFIG, ConfigError
from training.data import DataError
from training.dataset import config_from_file
from training.import_labels import labeled_corpus, text_key
from training.labeling import argilla_record, choice_result, label_studio_config

logger = logging.getLogger(__name__)

FORMATS = ("label-studio", "argilla", "jsonl")
DEFAULT_N = 50
# Candidates embedded per suggestion asked for: bounds the work whatever the size of SCORED.
DEFAULT_POOL = 20
# Two suggestions at or above this cosine similarity of their embeddings are near-duplicates
# (measured on the shipped model: see the README's labeling loop section).
DEFAULT_MAX_SIMILARITY = 0.9
REQUIRED_COLUMNS = ("id", "sentence", "text", "stance_scores", "frame_scores", "model", "error")


class SuggestError(ValueError):
    """An input file or option is unusable as a whole."""


@dataclass
class ScoredSentences:
    """The usable scored rows, in input order, as arrays."""

    unit_keys: list[tuple[int, str]]
    sentence_index: list[int]
    texts: list[str]
    stance: np.ndarray
    frame: np.ndarray
    model_tags: list[str]
    error_rows: int = 0


def _unneutralized(text: str) -> str:
    """CSV output prefixes a cell that a spreadsheet would run as a formula with an apostrophe; undo it."""
    from model.score import FORMULA_STARTS

    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _rows_of(path: Path):
    """The rows of one scored file, as dicts with score maps."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        yield {"error": f"line {number} is not valid JSON"}
        return
    import pyarrow as pa

    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        elif suffix == ".csv":
            import pyarrow.csv as pa_csv

            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in ("id", "text", "stance_scores", "frame_scores", "error")}
            ))
        else:
            raise SuggestError(f"Cannot read {path}: expected .jsonl, .csv or .parquet from `stanceframe score`.")
    except pa.ArrowException as error:
        raise SuggestError(f"Cannot read {path}: {error}") from error
    missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if missing:
        raise SuggestError(f"{path} lacks the columns {missing} of `stanceframe score` output; found {table.column_names}.")
    for row in table.to_pylist():
        if suffix == ".csv" and not row.get("error"):
            row = row | {head: json.loads(row[head]) for head in ("stance_scores", "frame_scores")}
            row["text"] = _unneutralized(row["text"])
        yield row


def read_scored(paths: list[Path]) -> ScoredSentences:
    keys, indexes, texts, stance, frame, tags = [], [], [], [], [], []
    errors = 0
    for number, path in enumerate(paths):
        if not path.is_file():
            raise SuggestError(f"Scored file {path} does not exist; pass files written by `stanceframe score`.")
        for row in _rows_of(path):
            scores = [row.get("stance_scores"), row.get("frame_scores")]
            if row.get("error") or not isinstance(row.get("text"), str) or not all(isinstance(s, dict) for s in scores):
                errors += 1
                continue
            try:
                stance.append([float(scores[0][label]) for label in STANCE_LABELS])
                frame.append([float(scores[1][label]) for label in FRAME_LABELS])
            except (KeyError, TypeError, ValueError):
                errors += 1
                continue
            keys.append((number, str(row.get("id"))))
            indexes.append(int(row.get("sentence") or 0))
            texts.append(row["text"])
            tags.append(str(row.get("model") or ""))
    return ScoredSentences(
        keys, indexes, texts, np.array(stance, dtype=np.float64).reshape(-1, len(STANCE_LABELS)),
        np.array(frame, dtype=np.float64).reshape(-1, len(FRAME_LABELS)), tags, errors,
    )


def contexts_for(scored: ScoredSentences, predictor) -> list[str]:
    """Each sentence's context as the model reads it, rebuilt from the other sentences of its input unit."""
    members: dict[tuple[int, str], list[int]] = {}
    for row, key in enumerate(scored.unit_keys):
        members.setdefault(key, []).append(row)
    contexts = [""] * len(scored.texts)
    for rows in members.values():
        rows.sort(key=lambda row: scored.sentence_index[row])
        for row, context in zip(rows, predictor.contexts_of([scored.texts[r] for r in rows]) or []):
            contexts[row] = context
    return contexts


def margins(probabilities: np.ndarray) -> np.ndarray:
    """Top probability minus the second: 0 is a tie between two labels."""
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def select_diverse(embeddings: np.ndarray, n: int, max_similarity: float) -> list[int]:
    """Rows of `embeddings` (in priority order) taken greedily, none within `max_similarity` of one taken before."""
    taken: list[int] = []
    nearest = np.full(len(embeddings), -np.inf)
    for row in range(len(embeddings)):
        if len(taken) == n:
            break
        if nearest[row] < max_similarity:
            taken.append(row)
            np.maximum(nearest, embeddings @ embeddings[row], out=nearest)
    return taken


@dataclass
class Suggestion:
    rank: int
    id: str
    scored_id: str
    sentence: int
    text: str
    context: str
    stance_scores: dict[str, float]
    frame_scores: dict[str, float]
    stance_margin: float
    frame_margin: float
    nearest_similarity: float
    model: str

    def predicted(self, head: str) -> tuple[str, float]:
        scores = self.stance_scores if head == "stance" else self.frame_scores
        label = max(scores, key=scores.get)
        return label, scores[label]


def suggest(scored: ScoredSentences, predictor, known_keys: set[str] | dict, n: int, pool: int,
            max_similarity: float) -> tuple[list[Suggestion], dict[str, int]]:
    """The suggestions, most uncertain first, and how many rows each step removed."""
    contexts = contexts_for(scored, predictor)
    keep, seen = [], set()
    already = repeated = 0
    for row, text in enumerate(scored.texts):
        key = text_key(text)
        if key in known_keys:
            already += 1
        elif key in seen:
            repeated += 1
        else:
            seen.add(key)
            keep.append(row)
    keep = np.array(keep, dtype=np.int64)
    counts = {"scored": len(scored.texts) + scored.error_rows, "error_rows": scored.error_rows,
              "already_labeled": already, "repeated": repeated, "candidates": len(keep), "embedded": 0}
    if not len(keep):
        return [], counts
    stance_margin, frame_margin = margins(scored.stance[keep]), margins(scored.frame[keep])
    # lexsort sorts by the last key first: stance margin, then frame margin, then input order.
    order = keep[np.lexsort((np.arange(len(keep)), frame_margin, stance_margin))][: pool * n]
    margin_of = {int(row): (float(s), float(f)) for row, s, f in zip(keep, stance_margin, frame_margin)}
    embeddings = np.asarray(predictor.embed([scored.texts[r] for r in order], [contexts[r] for r in order]))
    chosen = select_diverse(embeddings, n, max_similarity)
    suggestions = []
    for rank, position in enumerate(chosen, start=1):
        row = int(order[position])
        others = [p for p in chosen if p != position]
        unit = scored.unit_keys[row][1]
        suggestions.append(Suggestion(
            rank=rank, id=f"{unit}#{scored.sentence_index[row]}", scored_id=unit, sentence=scored.sentence_index[row],
            text=scored.texts[row], context=contexts[row],
            stance_scores={label: float(p) for label, p in zip(STANCE_LABELS, scored.stance[row])},
            frame_scores={label: float(p) for label, p in zip(FRAME_LABELS, scored.frame[row])},
            stance_margin=margin_of[row][0], frame_margin=margin_of[row][1],
            nearest_similarity=float(max(embeddings[others] @ embeddings[position])) if others else 0.0,
            model=scored.model_tags[row],
        ))
    counts["embedded"] = len(order)
    return suggestions, counts


def label_studio_tasks(suggestions: list[Suggestion]) -> list[dict]:
    return [
        {
            "data": {"suggestion_id": s.id, "text": s.text, "context": s.context, "rank": s.rank,
                     "stance_margin": round(s.stance_margin, 6), "frame_margin": round(s.frame_margin, 6)},
            "predictions": [{
                "model_version": s.model,
                # Label Studio sorts tasks by this score: the stance margin, low = uncertain.
                "score": round(s.stance_margin, 6),
                "result": [choice_result(head, s.predicted(head)[0]) for head in HEADS],
            }],
        }
        for s in suggestions
    ]


def argilla_records(suggestions: list[Suggestion]) -> list[dict]:
    return [
        argilla_record(
            s.id, s.text, s.context, {head: s.predicted(head) for head in HEADS}, s.model,
            {"rank": s.rank, "stance_margin": s.stance_margin, "frame_margin": s.frame_margin, "scored_id": s.scored_id},
        )
        for s in suggestions
    ]


def write_output(suggestions: list[Suggestion], output: str, output_format: str) -> None:
    if output_format == "jsonl":
        body = "".join(json.dumps(vars(s), ensure_ascii=False) + "\n" for s in suggestions)
    else:
        records = label_studio_tasks(suggestions) if output_format == "label-studio" else argilla_records(suggestions)
        body = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    if output == "-":
        sys.stdout.write(body)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(body, encoding="utf-8")
    temporary.replace(path)


def load_predictor(model: str | None, backend: str):
    from model.predictor import Predictor

    return Predictor.load(model, backend=backend)


def build_parser() -> argparse.ArgumentParser:
    from model.predictor import BACKENDS, DEFAULT_BACKEND

    parser = argparse.ArgumentParser(
        prog="stanceframe suggest",
        description="Pick the scored sentences most worth labeling next (uncertain, diverse, not yet labeled).",
        epilog=(
            "Examples:\n"
            "  stanceframe score news/ --output scored.jsonl\n"
            "  stanceframe suggest scored.jsonl --n 50 --output batch.json            # Label Studio tasks\n"
            "  stanceframe suggest scored.jsonl --format argilla --output records.json\n"
            "  stanceframe suggest --print-label-config > label-config.xml           # the project's labeling config\n"
            "Then label in the tool, export, and: stanceframe import-labels EXPORT --source NAME"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scored", nargs="*", metavar="SCORED", type=Path,
                        help="Output files of `stanceframe score` (.jsonl, .csv, .parquet).")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"How many sentences to suggest (default {DEFAULT_N}).")
    parser.add_argument("--output", "-o", default=None, help="Where to write the suggestions (- for stdout).")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="label-studio (tasks with pre-annotations), argilla (records with suggestions) or jsonl; "
                             "default: jsonl for a .jsonl output, else label-studio.")
    parser.add_argument("--pool", type=int, default=DEFAULT_POOL,
                        help=f"Embed the pool x n most uncertain candidates (default {DEFAULT_POOL}).")
    parser.add_argument("--max-similarity", type=float, default=DEFAULT_MAX_SIMILARITY,
                        help=f"Cosine similarity at which two sentences are near-duplicates (default {DEFAULT_MAX_SIMILARITY}).")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="Training config whose labeled files (training and development) are excluded.")
    parser.add_argument("--model", default=None, help="Store tag or model folder for the embeddings (default: stanceframe:latest).")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND, help="Inference backend for the embeddings.")
    parser.add_argument("--print-label-config", action="store_true",
                        help="Print the Label Studio labeling config (XML) the tasks are made for, and exit.")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.print_label_config:
        sys.stdout.write(label_studio_config())
        return 0
    if not args.scored or not args.output:
        parser.error("give SCORED files and --output (or --print-label-config).")
    if args.n < 1 or args.pool < 1 or not -1 <= args.max_similarity <= 1:
        parser.error(f"--n and --pool must be at least 1 and --max-similarity in [-1, 1]; found {args.n}, {args.pool}, "
                     f"{args.max_similarity}.")
    output_format = args.format or ("jsonl" if args.output.endswith((".jsonl", ".ndjson")) else "label-studio")
    started = time.monotonic()
    try:
        config = config_from_file(args.config)
        known, _ = labeled_corpus(config)
        scored = read_scored(args.scored)
    except (SuggestError, DataError, ConfigError) as error:
        logger.error("%s", error)
        return 2
    if not scored.texts:
        logger.error("No scored sentence in %s (%d error rows); nothing to suggest.", args.scored, scored.error_rows)
        return 2
    from model.store import ModelNotFoundError

    try:
        predictor = load_predictor(args.model, args.backend)
    except ModelNotFoundError as error:
        logger.error("%s", error)
        return 2
    from model.predictor import EmbeddingsUnavailable

    try:
        suggestions, counts = suggest(scored, predictor, known, args.n, args.pool, args.max_similarity)
    except EmbeddingsUnavailable as error:
        logger.error("%s (here: --backend torch)", error)
        return 2
    write_output(suggestions, args.output, output_format)
    logger.info(
        "Wrote %d suggestions (%s) to %s in %.1f s: %d scored rows, %d error rows skipped, %d already labeled, "
        "%d repeats, %d candidates, %d embedded.", len(suggestions), output_format, args.output,
        time.monotonic() - started, counts["scored"], counts["error_rows"], counts["already_labeled"],
        counts["repeated"], counts["candidates"], counts["embedded"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
