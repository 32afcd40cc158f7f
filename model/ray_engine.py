"""`stanceframe score --engine ray`: batch scoring on Ray Data, on one machine or a cluster.

The inputs are planned into shards on the driver: each table file (.jsonl, .csv,
.parquet) is one shard, and .txt articles are grouped `--shard-units` files to a shard.
The pipeline has three stages:

1. read: the shards' units, with the same readers as the local engine (so bad rows become
   the same error rows). Read tasks run on the driver's node, so inputs need not be on a
   shared file system.
2. segment: articles split into sentences with their contexts, as tasks anywhere in the
   cluster, so one long file's articles spread across workers.
3. score: a pool of actors, each holding one predictor (one inference thread, one actor
   per CPU) loaded from model files shipped through Ray's object store.

Rows come back to the driver, which commits a shard as soon as all of its rows arrived:
`OUT/part-SHARD.parquet`, rows in input order, written atomically. The part files'
names follow the input order, so reading OUT sorted by file name (as pyarrow does) gives
exactly the local engine's rows in its order. A run killed mid-way and started again with
`--resume` skips the committed shards.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from model.batch_io import TABLE_SUFFIXES, Fields, InputError, InputUnit, read_units
from model.environment import OFFLINE_ENVIRONMENT
from model.onnx_backend import ONNX_DIR, ONNX_FILES

logger = logging.getLogger(__name__)

RUN_FILE = "_stanceframe_run.json"
LOCK_FILE = "_lock"
PART_PATTERN = "part-{shard:06d}.parquet"
# Rows per call of a scoring actor: large enough to sort by length into full batches and
# to make Ray's per-call overhead small, small enough to keep every actor busy.
SCORE_BATCH_ROWS = 512
# Ray joins what a task yields into blocks of up to this many bytes, and a block is what one
# segment task, then one scoring call, takes: this is the grain at which work spreads over
# the cluster (about 1,000 sentences, or 80 articles). Ray's default, 128 MiB, would give
# one block, hence one actor, per input file.
BLOCK_BYTES = 256 << 10
# Units a read task holds before handing them on.
READ_CHUNK_UNITS = 1024
# How long the pool may take to start (a cluster may be adding nodes for it) before the run fails.
ACTOR_START_TIMEOUT_S = 600
# Every Ray node carries this label with its id: read tasks select the driver's node by it.
NODE_ID_LABEL = "ray.io/node-id"
# A row of the pipeline that is no sentence: the last row of each shard, carrying its unit count.
END_OF_SHARD = -1


@dataclass(frozen=True)
class Shard:
    """One unit of commitment: its index (the part file's number) and the input files it reads."""

    index: int
    paths: tuple[str, ...]


def plan_shards(files: list[Path], shard_units: int) -> list[Shard]:
    """Each table file is a shard; consecutive .txt files (one article each) are grouped `shard_units` to a shard."""
    shards: list[Shard] = []
    articles: list[str] = []

    def close_articles() -> None:
        if articles:
            shards.append(Shard(len(shards), tuple(articles)))
            articles.clear()

    for path in files:
        if path.suffix.lower() in TABLE_SUFFIXES:
            close_articles()
            shards.append(Shard(len(shards), (str(path.resolve()),)))
        else:
            articles.append(str(path.resolve()))
            if len(articles) == shard_units:
                close_articles()
    close_articles()
    return shards


def _unit_record(shard: int, unit: int, item: InputUnit | None = None, units_in_shard: int = -1) -> dict:
    return {
        "shard": shard, "unit": unit, "units_in_shard": units_in_shard,
        "id": item.id if item else None, "text": item.text if item else None,
        "error": item.error if item else None, "context": item.context if item else "",
    }


def read_shards(batch: dict, fields: Fields):
    """Read stage: the units of each shard in `batch`, then an end-of-shard row with their count."""
    import pyarrow as pa

    for shard, paths in zip(batch["index"], batch["paths"]):
        records: list[dict] = []
        count = 0
        for unit in read_units([Path(p) for p in paths], fields):
            records.append(_unit_record(int(shard), count, unit))
            count += 1
            if len(records) == READ_CHUNK_UNITS:
                yield pa.Table.from_pylist(records)
                records = []
        records.append(_unit_record(int(shard), END_OF_SHARD, units_in_shard=count))
        yield pa.Table.from_pylist(records)


def segment_schema():
    """Columns between the segment and score stages: where a row comes from, and the sentence to score."""
    import pyarrow as pa

    return pa.schema([
        ("shard", pa.int64()), ("unit", pa.int64()), ("units_in_shard", pa.int64()), ("unit_rows", pa.int64()),
        ("sentence", pa.int64()), ("id", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
        ("text", pa.string()), ("context", pa.string()), ("error", pa.string()),
    ])


def segment_units(batch, unit_kind: str, context_mode: str):
    """Segment stage: one row per sentence to score, or per unit that failed, plus the end-of-shard rows."""
    import pyarrow as pa

    from model.score import segment_unit

    empty = {"sentence": None, "id": None, "start": None, "end": None, "text": None, "context": None, "error": None}
    rows: list[dict] = []
    for record in batch.to_pylist():
        where = {"shard": record["shard"], "unit": record["unit"], "units_in_shard": record["units_in_shard"]}
        if record["unit"] == END_OF_SHARD:
            rows.append(where | empty | {"unit_rows": 0})
            continue
        unit = InputUnit(record["id"], record["text"], record["error"], record["context"] or "")
        item = segment_unit(unit, unit_kind, context_mode)
        if item.unit.error:
            rows.append(where | empty | {"unit_rows": 1, "id": unit.id, "error": item.unit.error})
            continue
        for index, ((start, end, text), context) in enumerate(zip(item.sentences, item.contexts)):
            rows.append(where | {"unit_rows": len(item.sentences), "sentence": index, "id": unit.id,
                                 "start": start, "end": end, "text": text, "context": context, "error": None})
    return pa.Table.from_pylist(rows, schema=segment_schema())


def model_files(model_dir: Path, backend: str) -> dict[str, bytes]:
    """The files of the model folder that `backend` loads, by relative path (what is shipped to the actors)."""
    onnx_needed = {ONNX_FILES[backend]} if backend in ONNX_FILES else set()
    files = {}
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(model_dir)
        in_onnx = relative.parts[0] == ONNX_DIR
        if backend in ONNX_FILES and (path.suffix == ".safetensors" or (in_onnx and path.suffix == ".onnx"
                                                                         and relative.name not in onnx_needed)):
            continue
        if backend == "torch" and in_onnx:
            continue
        files[str(relative)] = path.read_bytes()
    return files


class ScoringActor:
    """Score stage: one predictor per actor, loaded once from the model files in the object store."""

    def __init__(self, shipped_model: list, model_tag: str, backend: str, batch_size: int):
        import ray

        from model.environment import apply_offline_environment
        from model.predictor import Predictor

        apply_offline_environment()
        # The folder lives as long as the actor: the ONNX session and tokenizer are read at load.
        self._folder = tempfile.TemporaryDirectory(prefix="stanceframe-model-")
        for relative, content in ray.get(shipped_model[0]).items():
            target = Path(self._folder.name) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        # One inference thread per actor: the pool has one actor per CPU.
        self.predictor = Predictor.from_directory(
            self._folder.name, model_tag, backend=backend, threads=1, batch_size=batch_size
        )
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch):
        import pyarrow as pa

        rows = batch.to_pylist()
        scorable = [row for row in rows if row["text"] is not None]
        predictions = self.predictor.predict([row["text"] for row in scorable], [row["context"] for row in scorable])
        for row, prediction in zip(scorable, predictions):
            row.update(prediction.model_dump())
        for row in rows:
            row["node"] = self.node
        return pa.Table.from_pylist(rows, schema=scored_schema())


def scored_schema():
    """The segment stage's columns (less the context), the prediction's as in the output, and the actor's node."""
    import pyarrow as pa

    from model.schema import Prediction
    from model.score import arrow_schema

    where = [f for f in segment_schema() if f.name != "context"]
    predicted = [f for f in arrow_schema(scores_as_json=False) if f.name in Prediction.model_fields]
    return pa.schema([*where, *predicted, pa.field("node", pa.string())])


@dataclass
class ShardRows:
    """The rows of one shard received so far, and whether all of them are in."""

    rows: list[dict] = field(default_factory=list)
    units: int | None = None
    rows_per_unit: Counter = field(default_factory=Counter)
    complete_units: int = 0

    def add(self, row: dict) -> None:
        if row["unit"] == END_OF_SHARD:
            self.units = row["units_in_shard"]
            return
        self.rows.append(row)
        self.rows_per_unit[row["unit"]] += 1
        if self.rows_per_unit[row["unit"]] == row["unit_rows"]:
            self.complete_units += 1

    @property
    def complete(self) -> bool:
        return self.units is not None and self.complete_units == self.units


def output_rows(received: list[dict], model_tag: str) -> list[dict]:
    """A shard's output rows, in input order, built as the local engine builds them."""
    from model.schema import Prediction
    from model.score import error_row, scored_row

    rows = []
    for row in sorted(received, key=lambda r: (r["unit"], r["sentence"] or 0)):
        if row["error"] is not None:
            rows.append(error_row(InputUnit(row["id"], None, row["error"]), model_tag))
        else:
            prediction = {name: row[name] for name in Prediction.model_fields}
            rows.append(scored_row(row["id"], row["sentence"], row["start"], row["end"], row["text"], prediction,
                                   model_tag))
    return rows


@dataclass
class RayRun:
    """Totals of a Ray run, for the summary line."""

    shards: int = 0
    shards_skipped: int = 0
    nodes: set[str] = field(default_factory=set)
    sentences: int = 0
    failed: int = 0
    seconds: float = 0.0
    # From the start of the run to the first scored rows: Ray's start, the actors' start and model load.
    first_rows_seconds: float | None = None
    # In the shards a resumed run found committed: part of the output, not of this run's speed.
    sentences_before: int = 0
    failed_before: int = 0


def connect(address: str | None) -> None:
    """Join the cluster at `address`, or start a local Ray for this run."""
    import ray

    runtime_env = {"env_vars": dict(OFFLINE_ENVIRONMENT)}
    if address:
        # The workers run this run's inference code: ship the package rather than trust the cluster's copy.
        runtime_env["py_modules"] = [str(Path(__file__).resolve().parent)]
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(runtime_env=runtime_env, include_dashboard=False, log_to_driver=False)
    logger.info("Ray cluster: %s", {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "memory")})


def prepare_output(output: Path, signature: dict, resume: bool, overwrite: bool) -> set[int]:
    """Make OUT ready for this run; return the shards already committed (when resuming)."""
    run_file = output / RUN_FILE
    existing = [p for p in output.iterdir() if p.name != LOCK_FILE] if output.is_dir() else []
    if existing and overwrite:
        for leftover in existing:
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    elif existing and resume:
        if not run_file.is_file():
            raise InputError(f"{output} holds no stanceframe run to resume; choose another folder or --overwrite.")
        saved = json.loads(run_file.read_text())
        if saved["signature"] != signature:
            raise InputError(
                f"{output} was written by a run with other inputs, options or model ({saved['signature']}); it "
                "cannot be resumed with these. Pass --overwrite to start over, or rerun with the original options."
            )
        for temporary in [*output.glob("*.tmp"), *output.glob(".*.tmp")]:
            temporary.unlink()
        return {int(p.stem.split("-")[1]) for p in output.glob("part-*.parquet")}
    elif existing:
        raise InputError(
            f"{output} is not empty; pass --resume to continue the run that wrote it, or --overwrite to replace it."
        )
    output.mkdir(parents=True, exist_ok=True)
    write_json_durably({"signature": signature, "complete": False}, run_file)
    return set()


def write_json_durably(content: dict, path: Path) -> None:
    from model.score import replace_durably

    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(content, indent=2))
    replace_durably(temporary, path)


def score_with_ray(files: list[Path], args, model_dir: Path, model_tag: str, backend: str, signature: dict) -> RayRun:
    """Score `files` into the folder `args.output` on Ray Data; see the module docstring."""
    import ray

    from model.config import StanceFrameConfig
    from model.score import locked

    output = Path(args.output)
    if output.suffix.lower() in TABLE_SUFFIXES:
        raise InputError(
            f"--engine ray writes a folder of Parquet parts, found the file name {args.output!r}; "
            "give a folder, e.g. --output scored/."
        )
    if output.exists() and not output.is_dir():
        raise InputError(f"{output} is a file; --engine ray writes a folder of Parquet parts. Choose a folder name.")
    signature = signature | {"engine": "ray", "shard_units": args.shard_units}
    shards = plan_shards(files, args.shard_units)
    run = RayRun(shards=len(shards))
    started = time.monotonic()
    with locked(output, LOCK_FILE):
        committed = prepare_output(output, signature, args.resume, args.overwrite)
        todo = [shard for shard in shards if shard.index not in committed]
        run.shards_skipped = len(shards) - len(todo)
        if run.shards_skipped:
            logger.info("Resuming: %d of %d shards already committed", run.shards_skipped, len(shards))
        if todo:
            context_mode = StanceFrameConfig.from_pretrained(model_dir).context_mode
            connect(args.ray_address or os.environ.get("RAY_ADDRESS"))
            try:
                dataset = build_pipeline(todo, args, model_dir, model_tag, backend, context_mode)
                collect(dataset, output, model_tag, run, started)
            finally:
                ray.shutdown()
        complete = {"signature": signature, "complete": True, "shards": len(shards)}
        write_json_durably(complete, output / RUN_FILE)
        count_committed(output, {s.index for s in shards} & committed, run)
    run.seconds = time.monotonic() - started
    return run


def build_pipeline(shards: list[Shard], args, model_dir: Path, model_tag: str, backend: str, context_mode: str):
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = sys.stderr.isatty()
    context.target_max_block_size = BLOCK_BYTES
    # All blocks start on the driver's node; locality would keep them with its actors.
    context.execution_options.actor_locality_enabled = False
    # Start scoring when the whole pool is up, so the first actor does not take all the early work.
    context.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S
    fields = Fields(text=args.text_field, id=args.id_field, context=args.context_field)
    actors = args.actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    shipped_model = [ray.put(model_files(model_dir, backend))]
    driver_node = {NODE_ID_LABEL: ray.get_runtime_context().get_node_id()}
    plan = [{"index": shard.index, "paths": list(shard.paths)} for shard in shards]
    return (
        ray.data.from_items(plan, override_num_blocks=len(plan))
        # Inputs are read where the command runs: no shared file system is assumed. Reading and
        # segmenting reserve no CPU: together they cost about a tenth of scoring, and the
        # actors hold one CPU each (reserving some for them would starve the pool or stall them).
        .map_batches(read_shards, batch_size=1, fn_kwargs={"fields": fields}, batch_format="numpy",
                     num_cpus=0, label_selector=driver_node)
        # An empty label selector keeps Ray from fusing this stage into the reads (which would
        # inherit their node): segmentation spreads across the cluster.
        .map_batches(segment_units, batch_size=None, batch_format="pyarrow", num_cpus=0, label_selector={},
                     fn_kwargs={"unit_kind": args.unit, "context_mode": context_mode})
        .map_batches(ScoringActor, batch_size=SCORE_BATCH_ROWS, batch_format="pyarrow", num_cpus=1,
                     compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=2),
                     fn_constructor_kwargs={"shipped_model": shipped_model, "model_tag": model_tag,
                                            "backend": backend, "batch_size": args.batch_size})
    )


def collect(dataset, output: Path, model_tag: str, run: RayRun, started: float) -> None:
    """Receive the scored rows and commit each shard's part file as soon as it is complete."""
    from model.score import write_part

    pending: dict[int, ShardRows] = defaultdict(ShardRows)
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        if run.first_rows_seconds is None:
            run.first_rows_seconds = time.monotonic() - started
        for row in batch.to_pylist():
            run.nodes.add(row["node"])
            shard = pending[row["shard"]]
            shard.add(row)
            if shard.complete:
                rows = output_rows(shard.rows, model_tag)
                write_part(rows, output / PART_PATTERN.format(shard=row["shard"]), "parquet", with_header=False)
                run.failed += sum(1 for r in rows if r["error"] is not None)
                run.sentences += sum(1 for r in rows if r["error"] is None)
                del pending[row["shard"]]
    if pending:
        raise RuntimeError(f"The pipeline ended with shards {sorted(pending)} incomplete; rerun with --resume.")


def count_committed(output: Path, shards: set[int], run: RayRun) -> None:
    import pyarrow.parquet as pq

    for shard in shards:
        errors = pq.read_table(output / PART_PATTERN.format(shard=shard), columns=["error"])["error"]
        failed = errors.length() - errors.null_count
        run.failed_before += failed
        run.sentences_before += len(errors) - failed
