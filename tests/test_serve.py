"""One real `bentoml serve` subprocess: readiness, both endpoints over HTTP, and a
bounded schemathesis run against the served OpenAPI document that must find no 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from model.labels import STANCE_LABELS
from tests.conftest import PROJECT_DIR, SEED_ARTICLES

pytestmark = pytest.mark.slow


def test_sync_http_client_calls_both_endpoints(served_url, registered_tag):
    import bentoml

    with bentoml.SyncHTTPClient(served_url, server_ready_timeout=30) as client:
        assert client.is_ready()
        predictions = client.classify(sentences=["China will play a constructive role.", "Critics dismissed it."])
        assert len(predictions) == 2 and all(p["stance"] in STANCE_LABELS for p in predictions)
        analysis = client.analyze(text=SEED_ARTICLES[1].read_text(encoding="utf-8"))
        assert analysis["model"] == registered_tag
        assert analysis["summary"]["sentences"] == len(analysis["sentences"]) > 0


def test_raw_http_calls_and_a_400(served_url):
    response = httpx.post(f"{served_url}/classify", json={"sentences": ["Xi will visit Moscow."]}, timeout=30)
    assert response.status_code == 200 and response.json()[0]["frame"]
    response = httpx.post(f"{served_url}/analyze", json={"text": "BEIJING: Xi will visit Moscow."}, timeout=30)
    assert response.status_code == 200
    assert [s["text"] for s in response.json()["sentences"]] == ["BEIJING:", "Xi will visit Moscow."]
    response = httpx.post(f"{served_url}/analyze", json={"text": "   "}, timeout=30)
    assert response.status_code == 400 and "white space" in response.text
    assert httpx.get(f"{served_url}/metrics", timeout=30).status_code == 200


def test_the_wrk_load_generator_reports_answers_latency_and_cpu(served_url, tmp_path):
    from service.loadtest import wrk_load

    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text('{"sentences": ["Xi will visit Moscow."]}\n{"sentences": ["Critics dismissed the plan."]}\n')
    result = wrk_load(served_url, clients=2, seconds=2, bodies=bodies, server_pid=served_url.pid)
    assert result["sentences_per_s"] > 0 and result["non_2xx"] == 0 and result["socket_errors"] == 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["server_cpu_ms_per_request"] > 0 and result["loadgen_cpu_ms_per_request"] > 0


def test_schemathesis_finds_no_5xx_in_generated_requests(served_url, tmp_path):
    # The schemathesis CLI, not its pytest plugin: the plugin does not support pytest 9 yet.
    schemathesis_cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(schemathesis_cli), "run", f"{served_url}/docs.json", "--checks", "not_a_server_error",
         "--max-examples", "25", "--seed", "13", "--request-timeout", "60", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


BENTO_IMPORT = """
import sys
sys.modules["torch"] = None
sys.meta_path[:] = [finder for finder in sys.meta_path if not finder.__module__.startswith("__editable__")]
import service.service
sys.modules["pyarrow"] = None
import service.corpus_view
"""


def test_bentoml_build_packages_the_service_and_the_model(registered_tag):
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    build = subprocess.run([str(bentoml_cli), "build", "--output", "tag"], cwd=PROJECT_DIR,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    bento_tag = build.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    assert bento_tag.startswith("stanceframe:")
    import bentoml

    bento = bentoml.get(bento_tag)
    models = [str(model.tag) for model in bento.info.all_models]
    assert registered_tag in models
    source = Path(bento.path) / "src"
    assert (source / "service" / "service.py").is_file()
    assert (Path(bento.path) / "env" / "docker").is_dir()
    # The Bento installs the service's requirements only: no torch.
    lines = (Path(bento.path) / "env" / "python" / "requirements.txt").read_text().splitlines()
    packages = {line.split("==")[0] for line in lines if line and not line.startswith("#")}
    assert "onnxruntime" in packages and "torch" not in packages
    # Only what the service runs is packaged, and that is enough to import it.
    # model/score.py is packaged: the corpus view scores uploads with its score_chunk.
    for absent in ("training", "service/bench.py", "service/bench_keep.py", "service/loadtest.py"):
        assert not (source / absent).exists(), absent
    # ... with torch made unimportable, as in the Bento's environment, and without the editable
    # install's finder, which would serve a module the Bento lacks from the project tree.
    imported = subprocess.run([sys.executable, "-c", BENTO_IMPORT], cwd=source, capture_output=True, text=True,
                              timeout=120)
    assert imported.returncode == 0, imported.stderr[-3000:]
