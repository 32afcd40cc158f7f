"""`python -m service.loadtest`: measure the served model under load (a script, not a test).

For each `--setting WORKERS:TORCH_THREADS` it starts `bentoml serve` on a free port, and
prints one JSON line with:
- cold start: seconds from launch to the first 200 from /readyz;
- p50/p95/p99 latency of single-sentence /classify calls from 1 client;
- throughput (sentences/s) with 16 and 64 concurrent clients (an asyncio httpx load generator);
- peak RSS of the server's process tree, and per worker process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)
PROJECT_DIR = Path(__file__).resolve().parents[1]
SENTENCES = [
    line["text"]
    for line in map(json.loads, (PROJECT_DIR / "training/data/team_written.jsonl").read_text().splitlines())
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tree_rss(root: int) -> dict[int, int]:
    """RSS in bytes of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        children.setdefault(int(fields["PPid"]), []).append(int(status.parent.name))
    rss, stack = {}, [root]
    while stack:
        pid = stack.pop()
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except OSError:
            continue
        rss[pid] = pages * os.sysconf("SC_PAGE_SIZE")
        stack.extend(children.get(pid, []))
    return rss


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


async def closed_loop(url: str, clients: int, seconds: float) -> tuple[list[float], dict[int, int]]:
    """`clients` concurrent clients, each sending one sentence per request back to back."""
    import httpx

    latencies: list[float] = []
    errors: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def client(number: int, http: httpx.AsyncClient) -> None:
        i = number
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.post(f"{url}/classify", json={"sentences": [SENTENCES[i % len(SENTENCES)]]})
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors[response.status_code] = errors.get(response.status_code, 0) + 1
            i += clients

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    return latencies, errors


def measure(setting: str, seconds: float, backend: str = "torch") -> dict:
    import httpx

    workers, threads = setting.split(":")
    port = free_port()
    env = os.environ | {"STANCEFRAME_WORKERS": workers, "STANCEFRAME_TORCH_THREADS": threads, "STANCEFRAME_BACKEND": backend,
                        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("bentoml")), "serve", "service.service:StanceFrame",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    sampler = RssSampler(server.pid)
    sampler.start()
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 120:
                raise RuntimeError(f"the server did not become ready (setting {setting})")
            time.sleep(0.05)
        cold_start = time.perf_counter() - started
        single, _ = asyncio.run(closed_loop(url, 1, seconds))
        result = {
            "setting": {"workers": int(workers), "torch_threads": int(threads), "backend": backend},
            "cold_start_s": round(cold_start, 2),
            "single_client": {f"p{q}_ms": round(float(np.percentile(single, q)) * 1000, 1) for q in (50, 95, 99)},
        }
        for clients in (16, 64):
            latencies, errors = asyncio.run(closed_loop(url, clients, seconds))
            result[f"clients_{clients}"] = {
                "sentences_per_s": round(len(latencies) / seconds, 1),
                "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
                "non_200": errors,
            }
        result["peak_rss_mb"] = {"total": round(sampler.peak_total / 2**20), "largest_process": round(sampler.peak_process / 2**20)}
        return result
    finally:
        sampler.stopped.set()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", nargs="+", default=["1:2", "2:1", "1:1"],
                        help="WORKERS:TORCH_THREADS settings to compare (default: 1:2 2:1 1:1).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Duration of each load phase.")
    parser.add_argument("--backend", default="torch", help="Inference backend of the served model (default: torch).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for setting in args.setting:
        print(json.dumps(measure(setting, args.seconds, args.backend)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
