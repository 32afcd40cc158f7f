"""`stanceframe score --engine ray`: the local engine's rows, on one node and on two, and resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, SEED_ARTICLES, write_jsonl

pytest.importorskip("ray.data", reason="the Ray engine's tests need the ray extra (in the dev install)")
pq = pytest.importorskip("pyarrow.parquet")

pytestmark = pytest.mark.slow

BAD_ROWS = (
    b'{"id": "ok", "text": "China urged talks."}\n'
    b'{"id": "empty", "text": "   "}\n'
    b'{"id": "number", "text": 5}\n'
    b"not json\n"
    b'{"id": "bad-utf8", "text": "caf\xe9"}\n'
    b'{"id": "last", "text": "Kyiv rejected the plan as a ceasefire that would freeze the front."}\n'
)


def score(*args) -> int:
    from model.score import main

    return main([str(a) for a in args])


def rows_of(path: Path) -> list[dict]:
    """The output rows; a Ray output folder is read as pyarrow reads any Parquet folder."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    return pq.read_table(path).to_pylist()


def assert_same_rows(local: list[dict], ray: list[dict]) -> None:
    assert len(ray) == len(local)
    for expected, found in zip(local, ray):
        for name, value in expected.items():
            if isinstance(value, dict):
                assert found[name].keys() == value.keys()
                assert all(abs(found[name][k] - value[k]) <= 1e-6 for k in value), (name, expected["id"])
            else:
                assert found[name] == value, (name, expected["id"], found[name], value)


def test_ray_gives_the_local_engines_rows_on_the_seed_articles(tiny_onnx_model_dir, tmp_path, caplog):
    local, ray = tmp_path / "local.parquet", tmp_path / "ray"
    common = ("--model", tiny_onnx_model_dir, "--backend", "onnx-fp32")
    assert score(*SEED_ARTICLES, "--output", local, *common) == 0
    with caplog.at_level("INFO"):
        # Two articles to a shard: three shards, whose parts must come back in input order.
        assert score(*SEED_ARTICLES, "--output", ray, "--engine", "ray", "--shard-units", "2", *common) == 0
    assert sorted(p.name for p in ray.glob("part-*")) == [f"part-00000{i}.parquet" for i in range(3)]
    assert_same_rows(rows_of(local), rows_of(ray))
    assert "Scored 102 sentences in 3 shards on 1 node; 0 error rows" in caplog.text


def test_ray_gives_the_local_engines_rows_and_error_rows_on_sentences(tiny_onnx_model_dir, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.jsonl").write_bytes(BAD_ROWS)
    write_jsonl(shards / "b.jsonl", [{"id": f"b{i}", "text": f"The envoy met officials in city {i}."} for i in range(40)])
    (shards / "_SUCCESS").write_text("")  # what other tools leave in a shard folder: not an input
    local, ray = tmp_path / "local.jsonl", tmp_path / "ray"
    common = ("--unit", "sentence", "--model", tiny_onnx_model_dir, "--backend", "onnx-fp32")
    assert score(shards, "--output", local, *common) == 0
    assert score(shards, "--output", ray, "--engine", "ray", *common) == 0
    local_rows, ray_rows = rows_of(local), rows_of(ray)
    assert [r["id"] for r in ray_rows[:6]] == ["ok", "empty", "number", "a.jsonl:4", "a.jsonl:5", "last"]
    assert sum(r["error"] is not None for r in ray_rows) == 4
    assert_same_rows(local_rows, ray_rows)


def test_ray_refuses_file_outputs_and_a_used_folder(tiny_onnx_model_dir, tmp_path, caplog):
    source = tmp_path / "in.jsonl"
    source.write_bytes(BAD_ROWS)
    common = ("--unit", "sentence", "--model", tiny_onnx_model_dir, "--engine", "ray")
    assert score(source, "--output", tmp_path / "out.parquet", *common) == 2
    assert "writes a folder of Parquet parts" in caplog.text
    (tmp_path / "plain").write_text("a file")
    assert score(source, "--output", tmp_path / "plain", *common) == 2
    assert "is a file" in caplog.text
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("someone's file")
    assert score(source, "--output", used, *common) == 2
    assert "is not empty; pass --resume" in caplog.text
    assert (used / "notes.txt").read_text() == "someone's file"


def test_a_two_node_cluster_runs_actors_on_both_nodes(tiny_onnx_model_dir, tmp_path, caplog):
    from ray.cluster_utils import Cluster

    # Enough rows that one actor cannot absorb them all (the pool gives work to the least busy actor).
    source = write_jsonl(tmp_path / "in.jsonl",
                         [{"id": f"r{i}", "text": f"Sentence {i}: the envoy met officials."} for i in range(20000)])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        output = tmp_path / "ray"
        with caplog.at_level("INFO"):
            assert score(source, "--output", output, "--unit", "sentence", "--engine", "ray",
                         "--ray-address", cluster.address, "--model", tiny_onnx_model_dir,
                         "--backend", "onnx-fp32") == 0
    finally:
        cluster.shutdown()
    assert [r["id"] for r in rows_of(output)] == [f"r{i}" for i in range(20000)]
    assert "on 2 nodes" in caplog.text


def run_ray_score(model_dir: Path, source: Path, output: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "training.cli", "score", str(source), "--unit", "sentence", "--engine", "ray",
               "--output", str(output), "--model", str(model_dir), "--backend", "onnx-fp32", "--actors", "1", *extra]
    # A session of its own: the local Ray the driver starts is in it, and is stopped with it.
    return subprocess.Popen(command, cwd=PROJECT_DIR, env=os.environ.copy(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_resume_after_kill_9_of_the_driver_gives_exactly_the_rows_of_an_uninterrupted_run(
    tiny_onnx_model_dir, tmp_path
):
    shards = tmp_path / "shards"
    shards.mkdir()
    for shard in range(40):
        rows = [{"id": f"s{shard}-{i}", "text": f"In shard {shard} the envoy met officials in city {i}."}
                for i in range(400)]
        if shard == 7:
            rows[5]["text"] = ""
        write_jsonl(shards / f"{shard:03d}.jsonl", rows)
    reference = tmp_path / "reference.jsonl"
    assert score(shards, "--output", reference, "--unit", "sentence", "--model", tiny_onnx_model_dir,
                 "--backend", "onnx-fp32") == 0

    output = tmp_path / "ray"
    process = run_ray_score(tiny_onnx_model_dir, shards, output)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(output.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    committed = len(list(output.glob("part-*.parquet")))
    assert 0 < committed < 40, f"{committed} of 40 shards were committed when the driver was killed"
    assert not json.loads((output / "_stanceframe_run.json").read_text())["complete"]

    finished = run_ray_score(tiny_onnx_model_dir, shards, output, "--resume")
    _, stderr = finished.communicate(timeout=600)
    assert finished.returncode == 0, stderr.decode()
    assert f"Resuming: {committed} of 40 shards already committed".encode() in stderr
    assert json.loads((output / "_stanceframe_run.json").read_text())["complete"]
    assert_same_rows(rows_of(reference), rows_of(output))
