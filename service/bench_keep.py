"""What `stanceframe score --keep` costs: the same 10,000 sentences scored with and without kept columns.

Each input row carries an outlet, a date and a URL, as an analyst's corpus does; the runs
alternate (without, with, without, with ...) in one process so drift on a shared machine
hits both alike, and each is `stanceframe score` end to end (model load included, the
same for both). Both the wall time and the process's CPU time (every thread's) are
recorded: on a machine shared with other work the wall time swings by tens of percent from
run to run, the CPU time less. `io_overhead` isolates what --keep adds (reading the kept
columns, copying them onto the rows, writing them) with a stand-in predictor that costs
nothing, so that extra cost is measured without the model's noise and set against the
model runs' time. `service/bench.py` calls `keep_overhead`;
`python -m service.bench_keep` runs it alone. A script, not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from model.environment import apply_offline_environment

logger = logging.getLogger(__name__)
OUTLETS = ("Harbor Ledger", "Silk Road Daily Review", "Danube Evening Post", "Meridian Brief")
KEPT = "outlet,date,url"


def write_corpus(sentences: list[str], path: Path) -> Path:
    """Sentence rows with the metadata columns --keep copies."""
    with path.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(sentences):
            outlet = OUTLETS[i % len(OUTLETS)]
            handle.write(json.dumps({
                "id": f"s{i}", "text": text, "outlet": outlet, "date": f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "url": f"https://{outlet.lower().replace(' ', '-')}.example/{i}",
            }) + "\n")
    return path


class FreePredictor:
    """Batch scoring's view of a predictor, answering instantly: what is left is reading, row-making and writing."""

    backend = "none"

    def __init__(self, model_dir: str):
        from model.schema import Prediction

        self.model_dir, self.model_tag = Path(model_dir), "stanceframe:io-only"
        self.answer = Prediction(stance="neutral", frame="other", stance_scores={"supportive": 0.1, "skeptical": 0.1,
                                 "neutral": 0.8}, frame_scores={"other": 1.0}, low_confidence=False, truncated=False)

    def contexts_of(self, texts):
        return None

    def predict(self, texts, contexts=None):
        return [self.answer] * len(texts)


def io_overhead(model_ref: str, source: Path, folder: Path, output_format: str, repeats: int) -> dict:
    """Median seconds of a scoring run without the model, without and with --keep, interleaved."""
    import argparse

    from model.batch_io import Fields, expand_inputs, kept_columns
    from model.score import score_to_file

    files = expand_inputs([source])
    predictor = FreePredictor(model_ref)
    seconds: dict[str, list[float]] = {"without": [], "with": []}
    for repeat in range(repeats):
        for variant in ("without", "with"):
            output = folder / f"io-{variant}-{repeat}.{output_format}"
            keep = KEPT.split(",") if variant == "with" else []
            args = argparse.Namespace(unit="sentence", text_field="text", id_field="id", context_field=None,
                                      output=str(output), overwrite=False, resume=False, chunk_sentences=1024)
            started = time.perf_counter()
            score_to_file(files, args, predictor, output_format, kept_columns(files, Fields(), keep, False))
            seconds[variant].append(time.perf_counter() - started)
            output.unlink()
    return {variant: statistics.median(values) for variant, values in seconds.items()}


def keep_overhead(model_ref: str, backend: str, sentences: list[str], repeats: int = 3,
                  formats: tuple[str, ...] = ("jsonl", "parquet")) -> dict:
    """Seconds per run with and without `--keep outlet,date,url`, per output format, and their ratio."""
    from model.score import main as score

    report = {"sentences": len(sentences), "kept": KEPT, "repeats": repeats, "backend": backend}
    with tempfile.TemporaryDirectory(prefix="stanceframe-keep-bench-") as folder:
        source = write_corpus(sentences, Path(folder) / "corpus.jsonl")
        # One short untimed run first: the first run in a process also pays for imports and set-up.
        warm_up = write_corpus(sentences[:64], Path(folder) / "warm-up.jsonl")
        score([str(warm_up), "--unit", "sentence", "--output", str(Path(folder) / "warm-up-out.jsonl"),
               "--model", model_ref, "--backend", backend, "--keep", KEPT])
        for output_format in formats:
            wall: dict[str, list[float]] = {"without": [], "with": []}
            cpu: dict[str, list[float]] = {"without": [], "with": []}
            for repeat in range(repeats):
                for variant in ("without", "with"):
                    output = Path(folder) / f"out-{variant}-{repeat}.{output_format}"
                    extra = ["--keep", KEPT] if variant == "with" else []
                    started, started_cpu = time.perf_counter(), time.process_time()
                    status = score([str(source), "--unit", "sentence", "--output", str(output), "--model", model_ref,
                                    "--backend", backend, *extra])
                    wall[variant].append(time.perf_counter() - started)
                    cpu[variant].append(time.process_time() - started_cpu)
                    if status:
                        raise RuntimeError(f"stanceframe score exited {status}")
                    output.unlink()
            report[output_format] = {"target": "< 1.05"}
            io = io_overhead(model_ref, source, Path(folder), output_format, max(5, repeats))
            model_run = statistics.median(wall["without"])
            report[output_format]["without_model"] = {
                "median_seconds": {variant: round(value, 3) for variant, value in io.items()},
                "keep_adds_seconds": round(io["with"] - io["without"], 3),
                "share_of_a_model_run": round((io["with"] - io["without"]) / model_run, 4),
            }
            print(f"--keep {KEPT} ({output_format}) without the model: {io['without']:.2f} s without, {io['with']:.2f} s "
                  f"with: {io['with'] - io['without']:+.2f} s = {100 * (io['with'] - io['without']) / model_run:+.1f}% "
                  f"of a {model_run:.1f} s model run", flush=True)
            for clock, seconds in (("wall", wall), ("cpu", cpu)):
                median = {variant: statistics.median(values) for variant, values in seconds.items()}
                report[output_format][clock] = {
                    "seconds": {variant: [round(s, 2) for s in values] for variant, values in seconds.items()},
                    "median_ratio": round(median["with"] / median["without"], 4),
                }
                print(f"--keep {KEPT} ({output_format}, {clock} time): median {median['without']:.2f} s without, "
                      f"{median['with']:.2f} s with = {median['with'] / median['without']:.3f}x", flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.bench_keep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Store tag or model folder (default: stanceframe:latest).")
    parser.add_argument("--backend", default="auto", help="Inference backend (default: auto).")
    parser.add_argument("--sentences", type=int, default=10000, help="Sentences per run (default 10,000).")
    parser.add_argument("--repeats", type=int, default=3, help="Runs of each variant per format (default 3).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(message)s")
    apply_offline_environment()
    from model.store import resolve_model
    from service.bench import corpus

    model_dir, _ = resolve_model(args.model)
    print(json.dumps(keep_overhead(str(model_dir), args.backend, corpus(args.sentences), args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
