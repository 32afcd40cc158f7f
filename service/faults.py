"""`python -m service.faults` (`make soak`): the served model under faults and sustained load.

Prints one JSON line per scenario:
- `kill_worker`: `--clients` clients send single-sentence /classify requests whose right
  answers were recorded beforehand; one worker is killed with SIGKILL. Reports answers that
  were right, wrong (a 200 whose labels or scores differ: must be 0) and failed (refused
  connections, 5xx), and how long the killed worker took to come back;
- `soak`: `--soak-seconds` at half the measured capacity; errors (must be 0) and the RSS of
  the server's processes at the start and at the end (growth must stay under 10%);
- `schemathesis`: every check of schemathesis over the OpenAPI document, `--examples`
  generated cases per operation; failures must be 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from model.environment import apply_offline_environment
from model.labels import HEADS
from service.loadtest import (
    news_sentences,
    running_server,
    single_sentence_bodies,
    tree_rss,
    worker_pids,
    wrk_load,
)

logger = logging.getLogger(__name__)
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")

PROBE_COUNT = 50
SCORE_TOLERANCE = 1e-6


def probe_sentences() -> list[str]:
    return news_sentences()[:PROBE_COUNT]


def expected_answers(url: str) -> dict[str, dict]:
    import httpx

    sentences = probe_sentences()
    answers = httpx.post(f"{url}/classify", json={"sentences": sentences}, timeout=60).json()
    return dict(zip(sentences, answers))


def same_answer(got: dict, want: dict) -> bool:
    """The same label for each head, and every probability within SCORE_TOLERANCE."""
    return all(
        got[head] == want[head]
        and all(abs(got[f"{head}_scores"][label] - p) <= SCORE_TOLERANCE for label, p in want[f"{head}_scores"].items())
        for head in HEADS
    )


class Clients:
    """Closed-loop clients (optionally paced to a total rate) that check every 200 against the expected answer."""

    def __init__(self, url: str, expected: dict[str, dict], clients: int, rate: float | None = None):
        self.url, self.expected, self.rate = url, expected, rate
        self.sentences = list(expected)
        self.counts = {"right": 0, "wrong": 0, "failed": 0}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def _run(self, number: int) -> None:
        import httpx

        interval = len(self.threads) / self.rate if self.rate else 0.0
        next_at = time.monotonic() + interval * number / max(len(self.threads), 1)
        with httpx.Client(timeout=70) as client:
            position = number
            while not self.stop.is_set():
                if interval:
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    next_at += interval
                sentence = self.sentences[position % len(self.sentences)]
                position += len(self.threads)
                try:
                    response = client.post(f"{self.url}/classify", json={"sentences": [sentence]})
                    ok = response.status_code == 200
                    outcome = ("right" if same_answer(response.json()[0], self.expected[sentence]) else "wrong") if ok \
                        else "failed"
                except httpx.HTTPError:
                    outcome = "failed"
                with self.lock:
                    self.counts[outcome] += 1

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=80)


def kill_worker(clients: int, seconds: float) -> dict:
    """Kill -9 one worker while `clients` clients send requests; count right, wrong and failed answers."""
    import httpx

    with running_server() as (url, server, _):
        expected = expected_answers(url)
        workers = worker_pids(server.pid)
        with Clients(url, expected, clients) as load:
            time.sleep(seconds / 3)
            victim = workers[0]
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            back_after = None
            while time.monotonic() - killed_at < 120:
                replacement = [pid for pid in worker_pids(server.pid) if pid not in workers]
                if replacement and httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    back_after = time.monotonic() - killed_at
                    break
                time.sleep(0.1)
            time.sleep(max(0.0, seconds * 2 / 3 - (time.monotonic() - killed_at)))
        ready = httpx.get(f"{url}/readyz", timeout=5).status_code
        return {"scenario": "kill_worker", "clients": clients, "seconds": seconds, **load.counts,
                "worker_back_after_s": None if back_after is None else round(back_after, 2), "readyz_after": ready}


def soak(seconds: float, measure_seconds: float = 10) -> dict:
    """Half the measured capacity for `seconds`: errors and RSS growth of the server's processes."""
    with running_server() as (url, server, _):
        expected = expected_answers(url)
        with single_sentence_bodies(probe_sentences()) as bodies:
            capacity = wrk_load(url, 64, measure_seconds, bodies, server.pid)["sentences_per_s"]
        rate = capacity / 2
        rss_start = sum(tree_rss(server.pid).values())
        started = time.monotonic()
        with Clients(url, expected, clients=16, rate=rate) as load:
            time.sleep(seconds)
        elapsed = time.monotonic() - started
        rss_end = sum(tree_rss(server.pid).values())
        answered = sum(load.counts.values())
        return {"scenario": "soak", "seconds": round(elapsed), "capacity_sentences_per_s": capacity,
                "target_rate": round(rate, 1), "achieved_rate": round(answered / elapsed, 1), **load.counts,
                "rss_start_mb": round(rss_start / 2**20), "rss_end_mb": round(rss_end / 2**20),
                "rss_growth": round(rss_end / rss_start - 1, 4)}


def schemathesis_run(examples: int, seed: int = 13) -> dict:
    """Every schemathesis check over the served OpenAPI document; the count of generated cases and failures."""
    with running_server() as (url, _, _), tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        run = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(SCHEMATHESIS_CONFIG),
             "run", f"{url}/docs.json", "--checks", "all",
             "--max-examples", str(examples), "--seed", str(seed), "--request-timeout", "70", "--no-color",
             "--report", "junit", "--report-junit-path", str(report)],
            capture_output=True, text=True, cwd=folder,
        )
        cases = sum(int(word) for line in run.stdout.splitlines() if "generated" in line.lower()
                    for word in line.replace(",", " ").split() if word.isdigit())
        return {"scenario": "schemathesis", "examples_per_operation": examples, "exit_code": run.returncode,
                "summary": run.stdout.strip().splitlines()[-80:], "cases_reported": cases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help="Clients of the kill-a-worker scenario.")
    parser.add_argument("--kill-seconds", type=float, default=30, help="Length of the kill-a-worker scenario.")
    parser.add_argument("--soak-seconds", type=float, default=600, help="Length of the soak (default 10 minutes).")
    parser.add_argument("--examples", type=int, default=400,
                        help="Generated schemathesis cases per operation (every operation of the OpenAPI document; default 400).")
    parser.add_argument("--only", choices=("kill_worker", "soak", "schemathesis"), help="Run one scenario.")
    args = parser.parse_args(argv)
    apply_offline_environment()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    scenarios = {
        "kill_worker": lambda: kill_worker(args.clients, args.kill_seconds),
        "soak": lambda: soak(args.soak_seconds),
        "schemathesis": lambda: schemathesis_run(args.examples),
    }
    failed = False
    for name, scenario in scenarios.items():
        if args.only and name != args.only:
            continue
        logger.info("Running %s", name)
        result = scenario()
        print(json.dumps(result), flush=True)
        failed |= (
            result.get("wrong", 0) > 0 or result.get("exit_code", 0) != 0 or result.get("rss_growth", 0) >= 0.1
            or (name == "soak" and result["failed"] > 0)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
