"""`python -m service.loadtest`: measure the served model under load (a script, not a test).

For each `--setting WORKERS:THREADS` it starts `bentoml serve` on a free port, and prints
one JSON line with:
- cold start: seconds from launch to the first 200 from /readyz;
- steady phases: p50/p95/p99 latency of single-sentence /classify calls from 1 client, and
  throughput (sentences/s, one sentence per request) with 16 and 64 concurrent clients;
- traffic patterns: idle, a 64-client burst, then a lone client's p50/p95 in each second
  after it; a mixed load of one interactive client beside bulk /classify calls of 128
  sentences and /analyze calls of whole articles; how 4 keep-alive clients spread over
  the workers;
- CPU time per request of the server and of the load generator, so the throughput can be
  set against what two cores allow;
- peak RSS of the server's process tree, and per worker process.

Requests carry news-length text: the sentences and articles of the team-written corpus
(`training/data/`), not short test sentences.

The load generator is wrk (Debian package `wrk`; `make bench` installs it), driven by
`loadtest.lua`: a compiled client costs the two shared cores far less than a Python one.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from model.environment import apply_offline_environment

logger = logging.getLogger(__name__)
PROJECT_DIR = Path(__file__).resolve().parents[1]
WRK_SCRIPT = Path(__file__).with_name("loadtest.lua")
ARTICLES_DIR = PROJECT_DIR / "training" / "data" / "articles"
ARTICLE_SENTENCES = PROJECT_DIR / "training" / "data" / "article_sentences.jsonl"


@functools.lru_cache(maxsize=1)
def news_sentences() -> list[str]:
    """Sentences of the team-written articles that read as sentences (headlines and datelines left out)."""
    rows = map(json.loads, ARTICLE_SENTENCES.read_text(encoding="utf-8").splitlines())
    return [row["text"] for row in rows if len(row["text"].split()) >= 8]


@functools.lru_cache(maxsize=1)
def news_articles() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(ARTICLES_DIR.glob("*.txt"))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        children.setdefault(int(fields["PPid"]), []).append(int(status.parent.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def tree_rss(root: int) -> dict[int, int]:
    """RSS in bytes of each process of the tree under `root`."""
    rss = {}
    for pid in process_tree(root):
        try:
            rss[pid] = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return rss


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds used so far by the processes of the tree under `root`."""
    ticks = 0
    for pid in process_tree(root):
        try:
            # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def worker_pids(root: int) -> list[int]:
    """The BentoML worker processes (the ones that load the model) under the server `root`."""
    workers = []
    for pid in process_tree(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--worker-id" in command or any(part.startswith(b"--worker-id=") for part in command):
            workers.append(pid)
    return workers


@contextlib.contextmanager
def running_server(env: dict | None = None, timeout: float = 120, log: Path | None = None):
    """`bentoml serve` of the service on a free port; yields (url, process, seconds to the first ready 200).

    The server's output goes to `log` when given (and its end into the error when the server
    never becomes ready), else nowhere.
    """
    import httpx

    port = free_port()
    started = time.perf_counter()
    with open(log or os.devnull, "wb") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("bentoml")), "serve", "service.service:StanceFrame",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_DIR, env=os.environ | (env or {}), stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.perf_counter() - started > timeout:
                output = log.read_text(errors="replace")[-4000:] if log else ""
                raise RuntimeError(f"the server did not become ready (environment {env}){output and ':'}\n{output}")
            time.sleep(0.05)
        yield url, server, time.perf_counter() - started
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


class RssSampler(threading.Thread):
    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.peak_total, self.peak_process = root, 0, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            rss = tree_rss(self.root)
            self.peak_total = max(self.peak_total, sum(rss.values()))
            self.peak_process = max(self.peak_process, max(rss.values(), default=0))


def wrk_binary() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("The load generator wrk is not installed: `apt-get install wrk` (`make bench` does it).")
    return wrk


@contextlib.contextmanager
def single_sentence_bodies(sentences: list[str]):
    """A temporary JSONL file of `/classify` bodies, one sentence each, for loadtest.lua; yields its path."""
    with tempfile.TemporaryDirectory() as folder:
        bodies = Path(folder) / "bodies.jsonl"
        bodies.write_text("".join(json.dumps({"sentences": [sentence]}) + "\n" for sentence in sentences))
        yield bodies


def wrk_load(url: str, clients: int, seconds: float, bodies: Path, server_pid: int) -> dict:
    """`clients` connections, each sending one sentence per request back to back, for `seconds`."""
    server_cpu = tree_cpu_seconds(server_pid)
    wrk_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(
        [wrk_binary(), "--threads", "1", "--connections", str(clients), "--duration", f"{seconds:g}s",
         "--timeout", "60s", "--script", str(WRK_SCRIPT), url],
        env=os.environ | {"STANCEFRAME_LOADTEST_BODIES": str(bodies)}, capture_output=True, text=True, check=True,
    )
    server_cpu = tree_cpu_seconds(server_pid) - server_cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = after.ru_utime + after.ru_stime - wrk_cpu.ru_utime - wrk_cpu.ru_stime
    summary = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("LOADTEST "))[9:])
    duration = summary["duration_us"] / 1e6
    answered = summary["requests"] - summary["non_2xx"]
    return {
        "sentences_per_s": round(answered / duration, 1),
        **{f"p{q}_ms": round(summary[f"p{q}_us"] / 1000, 1) for q in (50, 95, 99)},
        "non_2xx": summary["non_2xx"],
        "socket_errors": summary["socket_errors"] + summary["timeouts"],
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(summary["requests"], 1), 2),
        "loadgen_cpu_ms_per_request": round(1000 * wrk_cpu / max(summary["requests"], 1), 2),
        "cpu_cores_busy": round((server_cpu + wrk_cpu) / duration, 2),
    }


def percentiles(latencies_ms: list[float]) -> dict:
    import numpy as np

    if not latencies_ms:
        return {"requests": 0}
    p50, p95 = np.percentile(latencies_ms, [50, 95])
    return {"requests": len(latencies_ms), "p50_ms": round(float(p50), 1), "p95_ms": round(float(p95), 1)}


def single_client(url: str, seconds: float, texts: list[str]) -> list[tuple[float, float, int]]:
    """One client sending one-sentence /classify requests, one at a time, for `seconds`.

    Returns (start offset s, latency ms, status) per request.
    """
    import httpx

    timeline = []
    started = time.monotonic()
    with httpx.Client(timeout=70) as client:
        position = 0
        while (now := time.monotonic()) - started < seconds:
            body = {"sentences": [texts[position % len(texts)]]}
            position += 1
            try:
                status = client.post(f"{url}/classify", json=body).status_code
            except httpx.HTTPError:
                status = 0
            timeline.append((now - started, 1000 * (time.monotonic() - now), status))
    return timeline


def burst_recovery(url: str, server_pid: int, bodies: Path, burst_seconds: float, after_seconds: int = 20) -> dict:
    """A lone client before a 64-client burst, then its p50/p95 in each second after the burst."""
    texts = news_sentences()
    before = single_client(url, 5, texts)
    burst = wrk_load(url, 64, burst_seconds, bodies, server_pid)
    after = single_client(url, after_seconds, texts)
    by_second = []
    for second in range(after_seconds):
        latencies = [ms for offset, ms, status in after if second <= offset < second + 1 and status == 200]
        by_second.append({"second": second + 1, **percentiles(latencies)})
    return {
        "before": percentiles([ms for _, ms, status in before if status == 200]),
        "burst_64_clients": burst,
        "after_by_second": by_second,
        "after_from_2s": percentiles([ms for offset, ms, status in after if offset >= 2 and status == 200]),
        "non_2xx_after": sum(status != 200 for _, _, status in after),
    }


def mixed_load(url: str, seconds: float, bulk_clients: int = 2, article_clients: int = 2) -> dict:
    """One interactive client (single sentences) beside bulk /classify (128 sentences) and /analyze clients."""
    import httpx

    sentences, articles = news_sentences(), news_articles()
    stop = threading.Event()
    counts = {"bulk_sentences": 0, "articles": 0, "article_sentences": 0, "non_2xx": 0}
    lock = threading.Lock()

    def bulk(number: int) -> None:
        with httpx.Client(timeout=70) as client:
            position = number * 997
            while not stop.is_set():
                batch = [sentences[(position + i) % len(sentences)] for i in range(128)]
                position += 128
                response = client.post(f"{url}/classify", json={"sentences": batch})
                with lock:
                    counts["bulk_sentences" if response.status_code == 200 else "non_2xx"] += (
                        128 if response.status_code == 200 else 1
                    )

    def analyze(number: int) -> None:
        with httpx.Client(timeout=70) as client:
            position = number
            while not stop.is_set():
                response = client.post(f"{url}/analyze", json={"text": articles[position % len(articles)]})
                position += article_clients
                with lock:
                    if response.status_code == 200:
                        counts["articles"] += 1
                        counts["article_sentences"] += response.json()["summary"]["sentences"]
                    else:
                        counts["non_2xx"] += 1

    threads = [threading.Thread(target=bulk, args=(i,)) for i in range(bulk_clients)]
    threads += [threading.Thread(target=analyze, args=(i,)) for i in range(article_clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(2)  # the background load is running before the interactive client starts
    interactive = single_client(url, seconds, sentences)
    stop.set()
    for thread in threads:
        thread.join()
    # Up to the last background answer, which the counts include.
    elapsed = time.monotonic() - started
    return {
        "interactive": percentiles([ms for _, ms, status in interactive if status == 200]),
        "interactive_non_2xx": sum(status != 200 for _, _, status in interactive),
        "bulk_sentences_per_s": round(counts["bulk_sentences"] / elapsed, 1),
        "articles_per_s": round(counts["articles"] / elapsed, 2),
        "article_sentences_per_s": round(counts["article_sentences"] / elapsed, 1),
        "background_non_2xx": counts["non_2xx"],
    }


def worker_balance(url: str, server_pid: int, bodies: Path, clients: int, seconds: float) -> dict:
    """How `clients` keep-alive connections spread over the workers: each worker's share of the CPU used."""
    workers = worker_pids(server_pid)
    before = {pid: tree_cpu_seconds(pid) for pid in workers}
    load = wrk_load(url, clients, seconds, bodies, server_pid)
    used = {pid: tree_cpu_seconds(pid) - before[pid] for pid in workers}
    total = sum(used.values()) or 1.0
    return {"clients": clients, "sentences_per_s": load["sentences_per_s"],
            "worker_cpu_shares": sorted((round(v / total, 3) for v in used.values()), reverse=True)}


def until_every_worker_ready(url: str, in_a_row: int = 20, timeout: float = 120) -> float:
    """Seconds until `in_a_row` fresh connections in a row get /readyz 200.

    The first 200 comes from one worker; another may still be loading its model and answer
    503, so measurements wait until fresh connections, spread over the workers by the
    kernel, all find a ready one.
    """
    import httpx

    started = time.perf_counter()
    streak = 0
    while streak < in_a_row:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"not every worker became ready within {timeout} s")
        try:
            ready = httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            ready = False
        streak = streak + 1 if ready else 0
        if not ready:
            time.sleep(0.05)
    return time.perf_counter() - started


def measure(setting: str, seconds: float, backend: str = "auto", patterns: bool = True) -> dict:
    """Serve with `setting` (WORKERS:THREADS) and `backend`; cold start, latency, throughput, RSS."""
    import httpx

    workers, threads = setting.split(":")
    wrk_binary()
    env = {"STANCEFRAME_WORKERS": workers, "STANCEFRAME_THREADS": threads, "STANCEFRAME_BACKEND": backend}
    with running_server(env) as (url, server, cold_start):
        sampler = RssSampler(server.pid)
        sampler.start()
        try:
            all_ready = cold_start + until_every_worker_ready(url)
            served_backend = httpx.post(f"{url}/model_info", json={}, timeout=10).json()["backend"]
            result: dict = {
                "setting": {"workers": int(workers), "threads": int(threads), "backend": served_backend},
                "cold_start_s": round(cold_start, 2),
                "every_worker_ready_s": round(all_ready, 2),
            }
            with single_sentence_bodies(news_sentences()) as bodies:
                for clients in (1, 16, 64):
                    logger.info("%s, %s: %d client(s) for %g s", setting, served_backend, clients, seconds)
                    result[f"clients_{clients}"] = wrk_load(url, clients, seconds, bodies, server.pid)
                if patterns:
                    logger.info("%s: burst, mixed load and worker balance", setting)
                    result["burst"] = burst_recovery(url, server.pid, bodies, burst_seconds=seconds)
                    result["mixed"] = mixed_load(url, seconds=max(seconds, 10))
                    result["balance_4_clients"] = worker_balance(url, server.pid, bodies, clients=4, seconds=seconds)
            result["peak_rss_mb"] = {
                "total": round(sampler.peak_total / 2**20), "largest_process": round(sampler.peak_process / 2**20)
            }
            return result
        finally:
            sampler.stopped.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", nargs="+", default=["2:1", "1:2", "1:1"],
                        help="WORKERS:THREADS settings to compare (default: 2:1 1:2 1:1).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Duration of each load phase.")
    parser.add_argument("--backend", default="auto",
                        help="Inference backend of the served model (default: auto, as the service).")
    args = parser.parse_args(argv)
    apply_offline_environment()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for setting in args.setting:
        print(json.dumps(measure(setting, args.seconds, args.backend)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
