"""`stanceframe import-labels EXPORT --source NAME`: labels from a labeling tool, added to the training data.

EXPORT is a Label Studio JSON export (`.json`: a list of tasks whose `annotations[].result[]`
choose one `stance` and one `frame`, the labeling config `stanceframe suggest
--print-label-config` prints; Label Studio's JSON-MIN export, one flat object per task,
reads too) or plain JSONL (`.jsonl`: one object per line with `text`, `stance`, `frame` and
optionally `context`, `annotator`, `id`).

- Every row is checked against the label schema (model/labels.py) and for a non-empty
  text; each bad row is reported with its row number, what was expected and what was
  found, and the good rows are imported all the same.
- A task with several annotations: cancelled ones are ignored; an annotation marked as
  ground truth decides (the last such); otherwise the annotations must agree on both
  heads, and a disagreement is reported as a bad row to adjudicate in the tool.
- De-duplication by normalized text (lower case, no accents or punctuation; the key of
  training/data.py's duplicate detection) against every labeled file of the config,
  training and development data alike (so no development sentence leaks into training),
  and within the export: importing the same export twice adds nothing the second time.
- Provenance on every row: `source` (--source), `annotator` (Label Studio's
  `completed_by`, or the row's `annotator`), `imported_at` (UTC) and `export_file`.
- The rows are appended to the config's `imported.jsonl` training file (created if
  missing) atomically, under a lock; the next `stanceframe train` trains on them.

Exit code 0 when the export was read (new rows added, or all already labeled; bad rows
reported), 2 when it has no usable row or the options or the file are unusable.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from model.labels import HEADS, LabelSchemaError, check_label
from model.segment import has_visible_text
from training.config import DEFAULT_CONFIG, ConfigError, TrainConfig, project_path
from training.data import IMPORTED_NAME, DataError, load_labeled, normalize
from training.dataset import config_from_file
from training.labeling import CONTEXT_FIELD, TEXT_FIELD, chosen_labels

logger = logging.getLogger(__name__)

SOURCE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ID_PREFIX = "imp-"


class UnusableExport(ValueError):
    """The export, or the config it is imported with, is unusable as a whole (not a single bad row)."""


@dataclass(frozen=True)
class LabeledRow:
    """A checked row of the export."""

    where: str
    text: str
    context: str
    stance: str
    frame: str
    annotator: str | None
    suggestion_id: str | None


@dataclass
class ImportResult:
    target: Path
    added: list[dict] = field(default_factory=list)
    already_labeled: list[str] = field(default_factory=list)
    duplicates_in_export: list[str] = field(default_factory=list)
    unlabeled: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> int:
        return len(self.added) + len(self.already_labeled) + len(self.duplicates_in_export)


def text_key(text: str) -> str:
    """The de-duplication key: the normalized text, or the text itself when nothing survives normalizing."""
    return normalize(text) or text.strip()


def _annotator_of(value: object) -> str | None:
    """Label Studio's `completed_by` (a user id, or a user object in some exports) or a plain annotator name."""
    if isinstance(value, dict):
        value = value.get("email") or value.get("id")
    return None if value is None or value == "" else str(value)


def check_row(where: str, values: dict, annotator: str | None) -> LabeledRow | str:
    """The row, or what is wrong with it (every problem, in one message)."""
    problems = []
    text, context = values.get(TEXT_FIELD), values.get(CONTEXT_FIELD) or ""
    if not isinstance(text, str) or not has_visible_text(text):
        problems.append(f"`{TEXT_FIELD}` must be a non-empty string, found {text!r}")
    if not isinstance(context, str):
        problems.append(f"`{CONTEXT_FIELD}` must be a string when given, found {context!r}")
    labels = {}
    for head in HEADS:
        try:
            labels[head] = check_label(head, values.get(head))
        except LabelSchemaError:
            found = "nothing" if values.get(head) is None else repr(values.get(head))
            problems.append(f"{head}: expected one of {list(HEADS[head])}, found {found}")
    if problems:
        return f"{where}: " + "; ".join(problems)
    suggestion_id = values.get("suggestion_id", values.get("id"))
    return LabeledRow(where, text.strip(), context, labels["stance"], labels["frame"], annotator,
                      None if suggestion_id is None else str(suggestion_id))


def label_studio_task(task: object, where: str) -> LabeledRow | str | None:
    """A full Label Studio task: its agreed labels, what is wrong with it, or None when nobody labeled it."""
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        return f"{where}: expected a Label Studio task with a `data` object, found {str(task)[:80]!r}"
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not annotations:
        return None
    deciding = [a for a in annotations if a.get("ground_truth")][-1:] or annotations
    votes = []
    for number, annotation in enumerate(deciding, start=1):
        chosen, problems = chosen_labels(annotation.get("result"), f"annotation {number}")
        if problems:
            return f"{where}: " + "; ".join(problems)
        votes.append(chosen)
    if any(vote != votes[0] for vote in votes):
        return (f"{where}: the annotators disagree ({votes}); mark one annotation as ground truth in Label Studio "
                f"(or fix the labels) and export again")
    annotators = sorted({name for a in deciding if (name := _annotator_of(a.get("completed_by")))})
    return check_row(where, task["data"] | votes[0], ", ".join(annotators) or None)


def read_export(path: Path) -> list[tuple[str, object]]:
    """(where, row) for each task or line of the export; the whole file unreadable raises UnusableExport."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UnusableExport(f"Cannot read {path}: {error}.") from error
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((f"line {number}", json.loads(line)))
                except json.JSONDecodeError as error:
                    rows.append((f"line {number}", f"invalid JSON ({error.msg})"))
        return rows
    if path.suffix.lower() != ".json":
        raise UnusableExport(f"Cannot tell the format of {path}: expected .json (Label Studio export) or .jsonl.")
    try:
        tasks = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UnusableExport(f"{path} is not valid JSON ({error}); expected a Label Studio JSON export.") from error
    if not isinstance(tasks, list):
        raise UnusableExport(
            f"{path} holds a JSON {type(tasks).__name__}; expected a list of tasks (Label Studio's JSON export)."
        )
    return [(f"task {number}" + (f" (Label Studio id {t['id']})" if isinstance(t, dict) and "id" in t else ""), t)
            for number, t in enumerate(tasks, start=1)]


def parse_row(where: str, row: object) -> LabeledRow | str | None:
    if isinstance(row, str):
        return f"{where}: {row}"
    if isinstance(row, dict) and ("annotations" in row or "data" in row):
        return label_studio_task(row, where)
    if not isinstance(row, dict):
        return f"{where}: expected a JSON object, found {type(row).__name__}"
    return check_row(where, row, _annotator_of(row.get("annotator")))


def import_target(config: TrainConfig) -> Path:
    """The config's imported.jsonl: a training file, so the next `stanceframe train` reads what is added."""
    for name in config.data_files:
        if Path(name).name == IMPORTED_NAME:
            return project_path(name)
    raise UnusableExport(
        f"The config's data_files {config.data_files} name no {IMPORTED_NAME}, so `stanceframe train` would not "
        f"read imported labels. Add training/data/{IMPORTED_NAME} to data_files."
    )


def labeled_corpus(config: TrainConfig) -> tuple[dict[str, str], set[str]]:
    """Normalized text -> where it is labeled, and the ids in use, over every training and development file."""
    files = [project_path(p) for p in config.data_files + config.dev_files]
    # The import file may not exist yet, or be empty; every other file must be there.
    files = [p for p in files if p.name != IMPORTED_NAME or (p.is_file() and p.stat().st_size)]
    sentences = load_labeled(files) if files else []
    keys: dict[str, str] = {}
    for sentence in sentences:
        keys.setdefault(text_key(sentence.text), f"{sentence.id} in {sentence.file}")
    return keys, {sentence.id for sentence in sentences}


def new_row(row: LabeledRow, source: str, export: Path, imported_at: str) -> dict:
    values = {
        "id": ID_PREFIX + hashlib.sha256(text_key(row.text).encode()).hexdigest()[:16],
        "text": row.text, "context": row.context or None, "stance": row.stance, "frame": row.frame,
        "source": source, "annotator": row.annotator, "imported_at": imported_at, "export_file": export.name,
        "suggestion_id": row.suggestion_id,
    }
    return {key: value for key, value in values.items() if value is not None}


@contextlib.contextmanager
def locked_folder(folder: Path):
    """An exclusive lock on the data folder: two imports at once would each miss the other's rows."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise UnusableExport(f"Another import is writing into {folder}; wait for it to finish.") from error
        yield
    finally:
        os.close(descriptor)


def append_rows(target: Path, rows: list[dict]) -> None:
    """The file with `rows` appended, replaced in one rename (a crash leaves the old file or the new one)."""
    from model.score import replace_durably

    existing = target.read_bytes() if target.is_file() else b""
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(existing + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    replace_durably(temporary, target)


def import_labels(export: Path, source: str, config: TrainConfig, dry_run: bool = False) -> ImportResult:
    """Check, de-duplicate and (unless `dry_run`) append the export's labels; what happened to every row."""
    target = import_target(config)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = read_export(export)
    result = ImportResult(target)
    with locked_folder(target.parent):
        known, ids = labeled_corpus(config)
        seen_in_export: dict[str, str] = {}
        imported_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for where, raw in rows:
            row = parse_row(where, raw)
            if row is None:
                result.unlabeled.append(where)
            elif isinstance(row, str):
                result.problems.append(row)
            elif (key := text_key(row.text)) in known:
                result.already_labeled.append(f"{where}: already labeled ({known[key]})")
            elif key in seen_in_export:
                result.duplicates_in_export.append(f"{where}: the same sentence as {seen_in_export[key]}")
            else:
                seen_in_export[key] = where
                result.added.append(new_row(row, source, export, imported_at))
        taken = {row["id"] for row in result.added} & ids
        if taken:
            raise UnusableExport(f"The ids {sorted(taken)} of new rows are already used in the corpus; report this.")
        if result.added and not dry_run:
            append_rows(target, result.added)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stanceframe import-labels",
        description="Add labels from a labeling tool's export (Label Studio JSON, or JSONL) to the training data.",
        epilog=(
            "Examples:\n"
            "  stanceframe import-labels project-3-at-2026-01-05.json --source ls-batch-1\n"
            "  stanceframe import-labels labels.jsonl --source review-jan --dry-run\n"
            "Bad rows are reported one by one and left out; rerunning with the same export adds nothing."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("export", metavar="EXPORT", type=Path,
                        help="Label Studio JSON export (.json) or JSONL with text, stance, frame (.jsonl).")
    parser.add_argument("--source", required=True,
                        help="Name of this batch of labels, kept on every row (letters, digits, '.', '_', '-').")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="Training config: its data_files name the imported.jsonl written, and with dev_files "
                             "the corpus de-duplicated against (default: training/config.json).")
    parser.add_argument("--dry-run", action="store_true", help="Check and report, write nothing.")
    args = parser.parse_args(argv)
    if not SOURCE_PATTERN.fullmatch(args.source):
        parser.error(f"--source must be 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit; "
                     f"found {args.source!r}.")
    try:
        config = config_from_file(args.config)
        result = import_labels(args.export, args.source, config, dry_run=args.dry_run)
    except (UnusableExport, DataError, ConfigError) as error:
        logger.error("%s", error)
        return 2
    for problem in result.problems:
        logger.error("Bad row, not imported: %s", problem)
    for note in result.already_labeled + result.duplicates_in_export:
        logger.info("Skipped: %s", note)
    logger.info(
        "%s %d new labeled sentences %s %s; skipped %d already labeled, %d repeated in the export, %d unlabeled "
        "tasks; %d bad rows.", "Would add" if args.dry_run else "Added", len(result.added),
        "to" if args.dry_run else "into", result.target, len(result.already_labeled),
        len(result.duplicates_in_export), len(result.unlabeled), len(result.problems),
    )
    if not result.usable:
        logger.error("%s has no usable labeled row; nothing to import.", args.export)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
