"""`stanceframe score`: label every sentence of article or sentence files, resumably.

Input units (articles or sentences) are read as a stream and scored in chunks. Each chunk
is written as a numbered part file under `OUT.partial/`, then a checkpoint records how
many input units are done. `--resume` after Ctrl-C or `kill -9` skips exactly those units
and rewrites any part that was not checkpointed, so no row is duplicated or lost. When
all input is scored the parts are joined, in order, into OUT.

With `--neighbours K` each row also lists the K most similar labeled training sentences
(`model/neighbours.py`), from the same forward pass as its prediction.

A row that cannot be scored (missing, non-string or empty text, an undecodable line)
becomes an error row with its id and the reason; the run goes on. The exit code is 0
when the run completed (whatever the error rows), 2 for unusable options or inputs,
1 for a failure of the run itself and 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import itertools
import json
import logging
import os
import shutil
import sys
import time
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from model.batch_io import (
    FORMATS,
    TABLE_SUFFIXES,
    Fields,
    InputError,
    InputUnit,
    check_columns,
    count_units,
    expand_inputs,
    kept_columns,
    read_units,
)
from model.encoding import article_contexts
from model.labels import HEADS
from model.neighbours import MAX_NEIGHBOURS
from model.predictor import BACKENDS, DEFAULT_BACKEND, DEFAULT_BATCH_SIZE
from model.schema import ScoredRow, ScoredRowWithNeighbours
from model.store import model_fingerprint
from model.segment import split_sentences

logger = logging.getLogger(__name__)

CHUNK_SENTENCES = 1024
ENGINES = ("local", "ray")
# .txt articles per shard of a Ray run (each table file is one shard).
DEFAULT_SHARD_UNITS = 1000
STATE_FILE = "state.json"
LOCK_FILE = "lock"
# A spreadsheet runs a cell that starts with one of these as a formula; such text cells of
# CSV output get a leading apostrophe (OWASP's advice against CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_TEXT_COLUMNS = ("id", "text", "error")
# The columns holding a head's label -> probability map (structs in Parquet, JSON text in CSV).
SCORES_COLUMNS = tuple(
    name for name, field in ScoredRow.model_fields.items() if "scores_of" in (field.json_schema_extra or {})
)


def row_model_of(neighbours: int) -> type[ScoredRow]:
    """The output row of a run: with a `neighbours` column when neighbours are asked for."""
    return ScoredRowWithNeighbours if neighbours else ScoredRow


def _base_type(annotation):
    """The type of an optional field (`X | None` -> X); other annotations as they are."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation


def json_columns(row_model: type[ScoredRow]) -> tuple[str, ...]:
    """The columns CSV holds as JSON text: the scores maps and lists (neighbours)."""
    return SCORES_COLUMNS + tuple(
        name for name, field in row_model.model_fields.items() if typing.get_origin(_base_type(field.annotation)) is list
    )


def _arrow_type(field, scores_as_json: bool):
    """The Arrow type of a ScoredRow field: its own hint, a struct of scores, a list of structs, or from its annotation."""
    import pyarrow as pa

    extra = field.json_schema_extra or {}
    if "scores_of" in extra:
        labels = HEADS[extra["scores_of"]]
        return pa.string() if scores_as_json else pa.struct([(label, pa.float64()) for label in labels])
    if "arrow" in extra:
        return getattr(pa, extra["arrow"])()
    base = _base_type(field.annotation)
    if typing.get_origin(base) is list:
        [item] = typing.get_args(base)
        return pa.string() if scores_as_json else pa.list_(
            pa.struct([(name, _arrow_type(inner, False)) for name, inner in item.model_fields.items()])
        )
    if typing.get_origin(base) is typing.Literal or base is str:
        return pa.string()
    return {int: pa.int64(), bool: pa.bool_(), float: pa.float64()}[base]


def arrow_schema(scores_as_json: bool, row_model: type[ScoredRow] = ScoredRow,
                 kept: Sequence[tuple[str, object]] = ()):
    """Output columns, in order, from `row_model` (scores as structs, or JSON text for CSV), then the kept input
    columns (`kept`: name and Arrow type, None for text, from `model.batch_io.kept_columns`; text in CSV)."""
    import pyarrow as pa

    return pa.schema(
        [(name, _arrow_type(field, scores_as_json)) for name, field in row_model.model_fields.items()]
        + [(name, arrow_type if arrow_type is not None and not scores_as_json else pa.string())
           for name, arrow_type in kept]
    )


def json_value(value: object) -> object:
    """A kept value JSON cannot hold as it is (dates and times from Parquet, decimals, bytes), as text."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def as_text(value: object) -> str | None:
    """A kept value for a string column: strings as they are, dates in ISO format, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False, default=json_value)



def write_part(rows: list[dict], path: Path, output_format: str, with_header: bool,
               row_model: type[ScoredRow] = ScoredRow, kept: Sequence[tuple[str, object]] = ()) -> None:
    """Write one chunk's rows to `path` atomically and durably (`kept`: the kept columns, as for `arrow_schema`)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    temporary = path.with_suffix(path.suffix + ".tmp")
    if output_format == "jsonl":
        with temporary.open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False, default=json_value) + "\n" for row in rows)
    else:
        as_json = output_format == "csv"
        if as_json:
            json_text = json_columns(row_model)
            rows = [
                {**row, **{k: (json.dumps(row[k], ensure_ascii=False) if row[k] is not None else None)
                           for k in json_text},
                 **{k: neutralized(row[k]) for k in CSV_TEXT_COLUMNS},
                 **{k: neutralized(as_text(row.get(k))) for k, _ in kept}}
                for row in rows
            ]
        elif kept:
            text_columns = [name for name, arrow_type in kept if arrow_type is None]
            if text_columns:
                rows = [{**row, **{k: as_text(row.get(k)) for k in text_columns}} for row in rows]
        table = pa.Table.from_pylist(rows, schema=arrow_schema(as_json, row_model, kept))
        if output_format == "csv":
            pa_csv.write_csv(table, temporary, write_options=pa_csv.WriteOptions(include_header=with_header))
        else:
            pq.write_table(table, temporary)
    replace_durably(temporary, path)


def neutralized(cell: str | None) -> str | None:
    """`cell`, with a leading apostrophe when a spreadsheet would take it for a formula."""
    return "'" + cell if cell and cell.startswith(FORMULA_STARTS) else cell


def fsync_folder(folder: Path) -> None:
    """Make renames and deletions in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_durably(temporary: Path, target: Path) -> None:
    """Move a finished `temporary` file onto `target`: its content and the rename both survive a power cut."""
    with temporary.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    fsync_folder(target.parent)


def join_parts(parts: list[Path], output: Path, output_format: str, row_model: type[ScoredRow] = ScoredRow,
               kept: Sequence[tuple[str, object]] = ()) -> None:
    """Concatenate the part files, in order, into `output` (atomically and durably)."""
    import pyarrow.parquet as pq

    temporary = output.with_name(output.name + ".tmp")
    if output_format == "parquet":
        with pq.ParquetWriter(temporary, arrow_schema(False, row_model, kept)) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part))
    else:
        with temporary.open("wb") as sink:
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, sink)
    replace_durably(temporary, output)


def error_row(unit: InputUnit, model_tag: str, row_model: type[ScoredRow] = ScoredRow) -> dict:
    return ({name: None for name in row_model.model_fields} | {"id": unit.id, "model": model_tag, "error": unit.error}
            | unit.metadata)


def scored_row(unit_id: str, index: int, start: int, end: int, text: str, prediction, model_tag: str,
               row_model: type[ScoredRow] = ScoredRow, metadata: dict | None = None) -> dict:
    """The output row of one scored sentence (`prediction`: a `Prediction` or its field mapping), then its unit's
    kept columns (`metadata`)."""
    return row_model.model_construct(
        id=unit_id, sentence=index, start=start, end=end, text=text, **dict(prediction),
        model=model_tag, error=None,
    ).model_dump() | (metadata or {})


@dataclass
class SegmentedUnit:
    """An input unit cut into the sentences to score (start, end, text) and their contexts, or why it failed."""

    unit: InputUnit
    sentences: list[tuple[int, int, str]]
    contexts: list[str]


def segment_unit(unit: InputUnit, unit_kind: str, context_mode: str) -> SegmentedUnit:
    """The sentences of one unit: an article split by `model.segment`, or the unit itself as one sentence."""
    if unit.error:
        return SegmentedUnit(unit, [], [])
    if unit_kind == "sentence":
        return SegmentedUnit(unit, [(0, len(unit.text), unit.text)], [unit.context])
    sentences = [(s.start, s.end, s.text) for s in split_sentences(unit.text)]
    if not sentences:
        return SegmentedUnit(dataclasses.replace(unit, text=None, error="empty text: no sentence found"), [], [])
    texts = [text for _, _, text in sentences]
    contexts = article_contexts(texts, context_mode) if context_mode != "none" else [""] * len(texts)
    return SegmentedUnit(unit, sentences, contexts)


def score_chunk(units: list[InputUnit], predictor, unit_kind: str, neighbours: int = 0) -> tuple[list[dict], int]:
    """Output rows for a chunk of input units, in input order, and how many units failed.

    With `neighbours` > 0 each row also has its nearest labeled training sentences.
    """
    segmented = [segment_unit(unit, unit_kind, predictor.config.context_mode) for unit in units]
    texts = [text for item in segmented for _, _, text in item.sentences]
    contexts = [context for item in segmented for context in item.contexts]
    row_model = row_model_of(neighbours)
    if neighbours:
        from model.explain import explain

        predictions = iter(
            {name: value for name, value in explanation if name != "attributions"}
            for explanation in explain(predictor, texts, contexts, neighbours=neighbours)
        )
    else:
        predictions = iter(predictor.predict(texts, contexts))
    rows: list[dict] = []
    failed = 0
    for item in segmented:
        if item.unit.error:
            rows.append(error_row(item.unit, predictor.model_tag, row_model))
            failed += 1
            continue
        for index, (start, end, text) in enumerate(item.sentences):
            rows.append(scored_row(item.unit.id, index, start, end, text, next(predictions), predictor.model_tag,
                                   row_model, item.unit.metadata))
    return rows, failed


def chunks(units: Iterator[InputUnit], unit_kind: str, chunk_sentences: int) -> Iterator[list[InputUnit]]:
    """Group units so a chunk holds about `chunk_sentences` sentences (estimated for articles)."""
    chunk: list[InputUnit] = []
    size = 0
    for unit in units:
        chunk.append(unit)
        size += 1 if unit_kind == "sentence" or not unit.text else max(1, unit.text.count(". ") + 1)
        if size >= chunk_sentences:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


@dataclass
class RunState:
    """The checkpoint: which run this is and how far it got."""

    signature: dict
    parts: int = 0
    units_done: int = 0
    sentences: int = 0
    failed: int = 0

    def save(self, folder: Path) -> None:
        temporary = folder / (STATE_FILE + ".tmp")
        temporary.write_text(json.dumps(self.__dict__, indent=2))
        replace_durably(temporary, folder / STATE_FILE)

    @classmethod
    def load(cls, folder: Path) -> RunState | None:
        path = folder / STATE_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def run_signature(files: list[Path], args, model_tag: str, backend: str, model_dir: Path, output_format: str,
                  kept: Sequence[tuple[str, object]] = ()) -> dict:
    """What makes two runs the same run: inputs, options and model (a checkpoint resumes only its own run)."""
    return {
        "inputs": [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files],
        "unit": args.unit, "text_field": args.text_field, "id_field": args.id_field,
        "context_field": args.context_field, "keep": [[name, str(arrow_type or "text")] for name, arrow_type in kept],
        "format": output_format, "model": model_tag, "backend": backend,
        # The content, not just the name: a model retrained into the same folder is another model.
        "model_sha256": model_fingerprint(model_dir),
    } | ({"neighbours": args.neighbours} if args.neighbours else {})


def output_format_of(args) -> str:
    if args.format:
        return args.format
    if args.output == "-":
        return "jsonl"
    suffix = Path(args.output).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            f"Cannot tell the output format from {args.output!r}; use a .jsonl, .csv or .parquet name or --format."
        )
    return TABLE_SUFFIXES[suffix]


def progress_bar(files: list[Path], unit_kind: str, initial: int):
    from tqdm.auto import tqdm

    # tqdm stays quiet when stderr is not a terminal (disable=None).
    interactive = sys.stderr.isatty()
    total = count_units(files) if interactive else None
    return tqdm(total=total, initial=initial, unit=unit_kind, disable=None, file=sys.stderr, dynamic_ncols=True)


def score_to_stdout(units: Iterator[InputUnit], predictor, unit_kind: str, neighbours: int = 0) -> tuple[int, int, int]:
    done = sentences = failed = 0
    for chunk in chunks(units, unit_kind, CHUNK_SENTENCES):
        rows, chunk_failed = score_chunk(chunk, predictor, unit_kind, neighbours)
        sys.stdout.writelines(json.dumps(row, ensure_ascii=False, default=json_value) + "\n" for row in rows)
        sys.stdout.flush()
        done += len(chunk)
        failed += chunk_failed
        sentences += len(rows) - chunk_failed
    return done, sentences, failed


def check_output(files: list[Path], output: Path, partial: Path, args) -> None:
    """Refuse to write over an input, an existing output or a folder that is not a checkpoint."""
    if any(output.resolve() == path.resolve() for path in files):
        raise InputError(f"The output {output} is one of the inputs; choose another output file.")
    if output.exists() and not args.overwrite:
        raise InputError(f"{output} exists; pass --overwrite to replace it, or choose another output file.")
    if partial.exists() and not (partial / STATE_FILE).is_file() and not args.overwrite:
        raise InputError(
            f"{partial} exists but holds no checkpoint of a run; delete it, or pass --overwrite to replace it."
        )


@contextlib.contextmanager
def locked(folder: Path, lock_name: str = LOCK_FILE):
    """Hold an exclusive lock on a run's folder: two runs on one output would mix their parts."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / lock_name).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise InputError(f"Another stanceframe score run is writing {folder}; wait for it to finish.") from error
        yield


def score_to_file(files, args, predictor, output_format: str, kept: Sequence[tuple[str, object]] = ()) -> RunState:
    output = Path(args.output)
    partial = output.with_name(output.name + ".partial")
    check_output(files, output, partial, args)
    signature = run_signature(files, args, predictor.model_tag, predictor.backend, predictor.model_dir, output_format,
                              kept)
    with locked(partial):
        state = start_or_resume(partial, signature, args)
        run_chunks(files, args, predictor, output_format, partial, state, kept)
    output.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".{output_format}"
    join_parts([partial / f"part-{i:06d}{suffix}" for i in range(state.parts)], output, output_format,
               row_model_of(args.neighbours), kept)
    shutil.rmtree(partial)
    return state


def start_or_resume(partial: Path, signature: dict, args) -> RunState:
    """The checkpoint to continue from: a fresh one, or the interrupted run's when --resume matches it."""
    state = RunState.load(partial)
    if state and not args.resume:
        if not args.overwrite:
            raise InputError(
                f"{partial} holds an interrupted run; pass --resume to continue it, or --overwrite to start over."
            )
        state = None
    if state and state.signature != signature:
        raise InputError(
            f"{partial} was made by a run with other inputs, options or model ({state.signature}); it cannot be "
            f"resumed with these. Pass --overwrite to start over, or rerun with the original options."
        )
    if state is None:
        for leftover in partial.iterdir():
            if leftover.name != LOCK_FILE:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        state = RunState(signature)
        state.save(partial)
    elif state.units_done:
        logger.info("Resuming: %d input units and %d parts already done", state.units_done, state.parts)
    return state


def run_chunks(files, args, predictor, output_format: str, partial: Path, state: RunState,
               kept: Sequence[tuple[str, object]] = ()) -> None:
    suffix = f".{output_format}"
    units = read_units(files, fields_of(args, kept))
    skipped = sum(1 for _ in itertools.islice(units, state.units_done))
    if skipped < state.units_done:
        raise InputError(
            f"The inputs now hold {skipped} units but the interrupted run had done {state.units_done}: "
            f"they changed. Delete {partial} and start over."
        )
    started, sentences_before = time.monotonic(), state.sentences
    with progress_bar(files, args.unit, state.units_done) as progress:
        for chunk in chunks(units, args.unit, args.chunk_sentences):
            rows, chunk_failed = score_chunk(chunk, predictor, args.unit, args.neighbours)
            write_part(rows, partial / f"part-{state.parts:06d}{suffix}", output_format, with_header=state.parts == 0,
                       row_model=row_model_of(args.neighbours), kept=kept)
            state.parts += 1
            state.units_done += len(chunk)
            state.failed += chunk_failed
            state.sentences += len(rows) - chunk_failed
            state.save(partial)
            progress.update(len(chunk))
            elapsed = max(time.monotonic() - started, 1e-9)
            progress.set_postfix(sentences_per_s=f"{(state.sentences - sentences_before) / elapsed:.0f}")


def fields_of(args, kept: Sequence[tuple[str, object]] = ()) -> Fields:
    return Fields(text=args.text_field, id=args.id_field, context=args.context_field,
                  keep=tuple(name for name, _ in kept))


def keep_option(value: str) -> list[str]:
    """--keep's comma-separated column names."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, found {value!r}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stanceframe score",
        description="Label every sentence of news articles (or single sentences) with stance and frame.",
        epilog=(
            "Examples:\n"
            "  stanceframe score training/data/seeds --output seeds.jsonl\n"
            "  stanceframe score sentences.jsonl --unit sentence --id-field id --output out.parquet\n"
            "  stanceframe score sentences.jsonl --unit sentence --neighbours 5 --output why.jsonl\n"
            "  stanceframe score shards/ --unit sentence --engine ray --output scored/\n"
            "  stanceframe score articles.jsonl --keep outlet,date,url --output scored.parquet\n"
            "  stanceframe score training/data/seeds --keep-all --output seeds.jsonl   (from seeds/metadata.csv)\n"
            "An interrupted run (Ctrl-C, kill -9) continues with the same command plus --resume."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help=".txt files or folders of them (one article per file, id = file name), "
                             "or .jsonl/.csv/.parquet files with a text column.")
    parser.add_argument("--output", "-o", required=True, metavar="OUT",
                        help="Output file (.jsonl, .csv or .parquet), or - for JSONL on stdout (no --resume).")
    parser.add_argument("--unit", choices=("article", "sentence"), default="article",
                        help="article: split each text into sentences; sentence: score each row as one sentence.")
    parser.add_argument("--text-field", default="text", help="Column with the text in table inputs (default: text).")
    parser.add_argument("--id-field", default="id",
                        help="Column with the row id in table inputs (default: id; else FILE:ROW is used).")
    parser.add_argument("--context-field", default=None,
                        help="With --unit sentence: column with each sentence's context (the article's headline and "
                             "previous sentence), read by models trained with context (see /model_info).")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep", type=keep_option, action="extend", default=[], metavar="COLUMNS",
                      help="Copy these input columns (comma-separated, e.g. outlet,date,url) onto every output row, "
                           "after the score columns. For .txt inputs they come from metadata.csv in the file's "
                           "folder (an id column with the file name, then one column per field).")
    keep.add_argument("--keep-all", action="store_true",
                      help="Copy every input column except the id and text columns (JSONL: the keys of its first "
                           "1,000 rows).")
    parser.add_argument("--format", choices=FORMATS, help="Output format (default: from the OUT extension).")
    parser.add_argument("--model", default=None, help="Store tag or model folder (default: stanceframe:latest).")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"Sentences per forward pass (default: {DEFAULT_BATCH_SIZE}).")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help=f"Inference backend (default: {DEFAULT_BACKEND}: onnx-int8 when the model's int8 export "
                             "passed its accuracy check, else onnx-fp32; see the README's 'Inference backends').")
    parser.add_argument("--resume", action="store_true", help="Continue an interrupted run writing the same OUT.")
    parser.add_argument("--overwrite", action="store_true",
                        help="Replace an existing OUT (or an interrupted run's OUT.partial/) instead of refusing.")
    parser.add_argument("--neighbours", type=int, default=0, metavar="K",
                        help=f"Add a neighbours column: the K (at most {MAX_NEIGHBOURS}) most similar labeled training "
                             "sentences of each sentence, with their gold labels and cosine similarity (default 0: "
                             "no column). Needs a model trained with its neighbour index.")
    parser.add_argument("--chunk-sentences", type=int, default=CHUNK_SENTENCES,
                        help=f"About this many sentences per checkpointed part (default: {CHUNK_SENTENCES}).")
    ray = parser.add_argument_group(
        "engine", "--engine ray scores on Ray Data (pip install -e '.[ray]'): OUT is a folder of Parquet parts, "
        "one per input shard, named in input order; --resume skips the committed shards."
    )
    ray.add_argument("--engine", choices=ENGINES, default="local",
                     help="local: this process (default); ray: a Ray cluster, or a local Ray started for the run.")
    ray.add_argument("--ray-address", default=None,
                     help="Address of a running Ray cluster to join (default: $RAY_ADDRESS, else start a local Ray).")
    ray.add_argument("--shard-units", type=int, default=DEFAULT_SHARD_UNITS,
                     help=f".txt articles per shard (default: {DEFAULT_SHARD_UNITS}); each table file is one shard.")
    ray.add_argument("--actors", type=int, default=None,
                     help="Scoring actors, one inference thread each (default: one per CPU of the cluster).")
    return parser


def score_on_ray(args) -> int:
    """`--engine ray`: check everything on the driver, then hand the run to `model.ray_engine`."""
    from model.config import StanceFrameConfig
    from model.labels import check_saved_labels
    from model.predictor import resolve_backend
    from model.store import resolve_model

    if args.output == "-" or args.format not in (None, "parquet"):
        raise InputError("--engine ray writes a folder of Parquet parts; give --output FOLDER (and no other --format).")
    if args.neighbours or args.keep or args.keep_all:
        raise InputError("--neighbours, --keep and --keep-all are not available with --engine ray yet; score with "
                         "the local engine.")
    if args.shard_units < 1 or (args.actors is not None and args.actors < 1):
        raise InputError(f"--shard-units and --actors must be at least 1, found {args.shard_units} and {args.actors}.")
    try:
        from model import ray_engine
    except ImportError as error:
        raise InputError(f"--engine ray needs Ray Data: pip install -e '.[ray]' ({error}).") from error
    files = expand_inputs(args.inputs)
    check_columns(files, fields_of(args))
    model_dir, model_tag = resolve_model(args.model)
    config = StanceFrameConfig.from_pretrained(model_dir)
    for head in HEADS:
        check_saved_labels(head, getattr(config, f"{head}_labels"), str(model_dir))
    backend = resolve_backend(model_dir, args.backend)
    logger.info("Scoring with %s on the %s backend, on Ray", model_tag, backend)
    signature = run_signature(files, args, model_tag, backend, model_dir, "parquet")
    run = ray_engine.score_with_ray(files, args, model_dir, model_tag, backend, signature)
    logger.info(
        "Scored %d sentences in %d shards on %d %s; %d error %s; %.0f sentences/s (first rows after %.1f s); "
        "wrote %s%s",
        run.sentences, run.shards - run.shards_skipped, len(run.nodes), "node" if len(run.nodes) == 1 else "nodes",
        run.failed, "row" if run.failed == 1 else "rows", run.sentences / max(run.seconds, 1e-9),
        run.first_rows_seconds or 0.0, args.output,
        f" (with {run.shards_skipped} shards, {run.sentences_before} sentences and {run.failed_before} error rows "
        "committed before)" if run.shards_skipped else "",
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from model.labels import LabelSchemaError
    from model.onnx_backend import MissingOnnxError
    from model.predictor import Predictor
    from model.store import ModelNotFoundError

    try:
        if args.batch_size < 1 or args.chunk_sentences < 1:
            raise InputError(
                f"--batch-size and --chunk-sentences must be at least 1, found {args.batch_size} and {args.chunk_sentences}."
            )
        if not 0 <= args.neighbours <= MAX_NEIGHBOURS:
            raise InputError(f"--neighbours must be between 0 and {MAX_NEIGHBOURS}, found {args.neighbours}.")
        if args.context_field and args.unit != "sentence":
            raise InputError("--context-field needs --unit sentence: an article's sentences get their context from it.")
        if args.engine == "ray":
            return score_on_ray(args)
        output_format = output_format_of(args)
        if args.output == "-" and (args.resume or output_format != "jsonl"):
            raise InputError("Output to stdout (-) is JSONL only and cannot be resumed; give an output file.")
        files = expand_inputs(args.inputs)
        check_columns(files, fields_of(args))
        if len(set(args.keep)) != len(args.keep):
            raise InputError(f"--keep names a column more than once: {args.keep}.")
        kept = kept_columns(files, fields_of(args), args.keep, args.keep_all)
        predictor = Predictor.load(args.model, batch_size=args.batch_size, backend=args.backend)
        logger.info("Scoring with %s on the %s backend", predictor.model_tag, predictor.backend)
        if args.neighbours:
            from model.explain import neighbours_unavailable

            reason = neighbours_unavailable(predictor)
            if reason:
                raise InputError(f"--neighbours {args.neighbours}: {reason}")
        if args.output == "-":
            units, sentences, failed = score_to_stdout(
                read_units(files, fields_of(args, kept)), predictor, args.unit, args.neighbours
            )
        else:
            state = score_to_file(files, args, predictor, output_format, kept)
            units, sentences, failed = state.units_done, state.sentences, state.failed
    except (InputError, ModelNotFoundError, MissingOnnxError, LabelSchemaError) as error:
        logger.error("%s", error)
        return 2
    except KeyboardInterrupt:
        advice = "" if args.output == "-" else " Run the same command with --resume to continue."
        logger.error("Interrupted.%s", advice)
        return 130
    logger.info(
        "Scored %d sentences from %d input %ss; %d %s failed (see the error column)%s.",
        sentences, units, args.unit, failed, "row" if failed == 1 else "rows",
        "" if args.output == "-" else f"; wrote {args.output}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
