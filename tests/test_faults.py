"""Faults against real `bentoml serve` processes: a killed worker, a killed server, every schemathesis check.

Brief versions of `python -m service.faults` (`make soak`), which prints the full figures.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from service.faults import kill_worker, schemathesis_run
from service.loadtest import running_server, worker_pids

pytestmark = pytest.mark.slow


def test_a_killed_worker_comes_back_and_no_answer_is_wrong(registered_tag):
    result = kill_worker(clients=8, seconds=9)
    assert result["wrong"] == 0, result
    assert result["right"] > 0 and result["readyz_after"] == 200, result
    assert result["worker_back_after_s"] is not None, result


def test_workers_die_with_the_server(registered_tag):
    with running_server({"STANCEFRAME_WORKERS": "2"}) as (_, server, _):
        workers = worker_pids(server.pid)
        assert len(workers) == 2
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]
                  for pid in workers):
            assert time.monotonic() < deadline, "a worker outlived the server"
            time.sleep(0.2)


def test_every_schemathesis_check_passes(registered_tag):
    result = schemathesis_run(examples=20)
    assert result["exit_code"] == 0, "\n".join(result["summary"])
