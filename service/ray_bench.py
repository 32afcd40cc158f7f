"""The Ray engine's figures for `make bench`: its speed beside the local engine, and the parts of a scaling estimate.

On this machine:
  - both engines score the same news-length sentences (a folder of JSONL shards), each as
    a whole `stanceframe score` command (start-up included), alternating, best of the runs;
  - one actor's steady throughput (one predictor, one thread, calls of the engine's size);
  - Ray's cost per call: an actor pool of the same shape passing the same blocks through
    a function that does nothing;
  - shipping the model: the bytes the actors receive and the time from asking for an actor
    to its predictor being ready.
From these, `estimate` gives the hours for N nodes of M cores (see the README).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)
SHARDS = 8
RAY_SENTENCES = 20_000
# How many times the long run of the per-call measurement passes the blocks.
PASSING_COPIES = 10


def write_shards(folder: Path, sentences: list[str]) -> Path:
    """The sentences as SHARDS JSONL files in `folder/shards`."""
    shards = folder / "shards"
    shards.mkdir()
    size = -(-len(sentences) // SHARDS)
    for shard in range(SHARDS):
        rows = sentences[shard * size:(shard + 1) * size]
        (shards / f"{shard:03d}.jsonl").write_text(
            "".join(json.dumps({"id": f"{shard}-{i}", "text": text}) + "\n" for i, text in enumerate(rows))
        )
    return shards


def timed_score(shards: Path, output: Path, model_ref: str, *engine: str) -> tuple[float, float]:
    """Seconds of the whole command, and (Ray) seconds until its first scored rows, from its summary line."""
    started = time.perf_counter()
    finished = subprocess.run(
        [str(Path(sys.executable).with_name("stanceframe")), "score", str(shards), "--unit", "sentence",
         "--output", str(output), "--model", model_ref, "--overwrite", *engine],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    first_rows = re.search(r"first rows after ([0-9.]+) s", finished.stderr)
    return time.perf_counter() - started, float(first_rows.group(1)) if first_rows else 0.0


def engine_ratio(model_ref: str, sentences: list[str], repeats: int = 2) -> dict:
    """Sentences/s of `--engine ray` and of the local engine on the same shards, and their ratio."""
    with tempfile.TemporaryDirectory() as folder:
        shards = write_shards(Path(folder), sentences)
        local, ray = [], []
        for _ in range(repeats):
            local.append(timed_score(shards, Path(folder) / "local.parquet", model_ref)[0])
            ray.append(timed_score(shards, Path(folder) / "ray", model_ref, "--engine", "ray"))
    best_local = min(local)
    best_ray, first_rows = min(ray)
    local_rate, ray_rate = len(sentences) / best_local, len(sentences) / best_ray
    # After the first rows: Ray's steady rate, with its start-up (a fixed cost per run) set apart.
    steady_rate = len(sentences) / (best_ray - first_rows)
    return {"sentences": len(sentences), "local_sentences_per_s": round(local_rate, 1),
            "ray_sentences_per_s": round(ray_rate, 1), "ray_share_of_local": round(ray_rate / local_rate, 3),
            "ray_first_rows_s": round(first_rows, 1), "ray_steady_sentences_per_s": round(steady_rate, 1),
            "ray_steady_share_of_local": round(steady_rate / local_rate, 3),
            "local_seconds": [round(s, 1) for s in local], "ray_seconds": [round(s, 1) for s, _ in ray],
            "target": ">= 0.8"}


def actor_parts(model_dir: Path, backend: str, sentences: list[str]) -> dict:
    """One actor's throughput, Ray's cost per call, and what shipping the model to an actor costs."""
    import pyarrow as pa
    import ray

    from model.environment import OFFLINE_ENVIRONMENT
    from model.ray_engine import SCORE_BATCH_ROWS, ScoringActor, model_files, segment_schema

    rows = [{"shard": 0, "unit": i, "units_in_shard": -1, "unit_rows": 1, "sentence": 0, "id": str(i), "start": 0,
             "end": len(text), "text": text, "context": "", "error": None} for i, text in enumerate(sentences)]
    blocks = [pa.Table.from_pylist(rows[i:i + SCORE_BATCH_ROWS], schema=segment_schema())
              for i in range(0, len(rows), SCORE_BATCH_ROWS)]
    ray.init(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": dict(OFFLINE_ENVIRONMENT)})
    try:
        files = model_files(model_dir, backend)
        shipped = [ray.put(files)]
        started = time.perf_counter()
        actor = ray.remote(num_cpus=1)(ScoringActor).remote(shipped, "bench", backend, 32)
        ray.get(actor.__ray_ready__.remote())
        ready_s = time.perf_counter() - started
        ray.get(actor.__call__.remote(blocks[0]))
        started = time.perf_counter()
        for block in blocks:
            ray.get(actor.__call__.remote(block))
        actor_rate = len(rows) / (time.perf_counter() - started)

        # The blocks through an actor pool of the engine's shape whose actors do nothing: Ray's
        # part of each scoring call (moving the block in and out, scheduling). Each run starts
        # its own pool, so the cost per call is the difference between a long and a short run.
        def passing_seconds(copies: int) -> float:
            dataset = ray.data.from_arrow(blocks * copies).map_batches(
                Passthrough, batch_size=SCORE_BATCH_ROWS, batch_format="pyarrow", num_cpus=1,
                compute=ray.data.ActorPoolStrategy(size=1))
            started = time.perf_counter()
            for _ in dataset.iter_batches(batch_size=None):
                pass
            return time.perf_counter() - started

        short, long = passing_seconds(1), passing_seconds(PASSING_COPIES)
        per_call_ms = 1000 * (long - short) / (len(blocks) * (PASSING_COPIES - 1))
    finally:
        ray.shutdown()
    return {"backend": backend, "actor_sentences_per_s": round(actor_rate, 1),
            "ray_ms_per_call_of_512": round(per_call_ms, 2),
            "model_bytes_shipped": sum(len(content) for content in files.values()),
            "actor_ready_s": round(ready_s, 2)}


class Passthrough:
    """An actor that gives each block back as it is."""

    def __call__(self, batch):
        return batch


def estimate(parts: dict, ratio: dict, sentences: float, nodes: int, cores: int,
             network_bytes_per_s: float = 1e9) -> float:
    """Hours to score `sentences` on `nodes` nodes of `cores` cores, from the measured parts.

    Each core runs one actor at the measured one-actor rate, slowed by Ray's per-call cost
    and by the efficiency this machine showed after its start-up (the Ray run's steady rate
    against its two actors' sum: reading, segmenting and the driver's writing share the
    cores); start-up is this run's time to the first rows plus one model shipment over a
    1 GB/s network.
    """
    # Below the noise of its measurement the per-call cost can come out negative: count it as nothing.
    per_call_s = max(0.0, parts["ray_ms_per_call_of_512"]) / 1000
    actor_rate = 512 / (512 / parts["actor_sentences_per_s"] + per_call_s)
    measured_cores = 2
    efficiency = min(1.0, ratio["ray_steady_sentences_per_s"] / (measured_cores * actor_rate))
    startup_s = ratio["ray_first_rows_s"] + parts["model_bytes_shipped"] / network_bytes_per_s
    return (startup_s + sentences / (nodes * cores * actor_rate * efficiency)) / 3600


def scaling_table(parts: dict, ratio: dict) -> list[dict]:
    return [
        {"sentences": total, "nodes": nodes, "cores_per_node": cores,
         "hours": round(estimate(parts, ratio, total, nodes, cores), 2)}
        for total in (10_000_000, 100_000_000) for nodes, cores in ((1, 2), (4, 16), (16, 16), (64, 16))
    ]


def ray_figures(model_dir: Path, model_ref: str, backend: str, sentences: list[str]) -> dict:
    logger.info("Measuring the Ray engine against the local engine on %d sentences", len(sentences))
    ratio = engine_ratio(model_ref, sentences)
    logger.info("Measuring one Ray actor, Ray's cost per call and the model shipment")
    parts = actor_parts(model_dir, backend, sentences[:4096])
    return {"engines": ratio, "parts": parts, "estimate": scaling_table(parts, ratio)}
