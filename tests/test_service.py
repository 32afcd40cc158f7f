"""The BentoML service in-process (ASGI test client): status codes, messages, schema."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from model.labels import FRAME_LABELS, STANCE_LABELS
from tests.conftest import SEED_ARTICLES


@pytest.fixture(scope="module")
def client(registered_tag):
    from service.service import StanceFrame

    with TestClient(StanceFrame.to_asgi()) as test_client:
        deadline = time.monotonic() + 60
        while test_client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service never became ready"
            time.sleep(0.1)
        yield test_client


def test_classify_returns_one_labeled_prediction_per_sentence_in_order(client, registered_tag):
    from model.predictor import Predictor

    sentences = ["China will play a constructive role.", "Critics dismissed the plan.", "Xi visits Moscow."]
    response = client.post("/classify", json={"sentences": sentences})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    predictions = response.json()
    assert len(predictions) == 3
    # The same predictor as batch scoring: identical labels and probabilities.
    expected = Predictor.load(registered_tag).predict(sentences)
    for got, want in zip(predictions, expected):
        assert got["stance"] == want.stance and got["frame"] == want.frame
        assert got["stance_scores"] == pytest.approx(want.stance_scores, abs=1e-5)
        assert list(got["frame_scores"]) == list(FRAME_LABELS)
        assert set(got) == {"stance", "stance_scores", "frame", "frame_scores", "low_confidence", "truncated"}


def test_classify_reads_the_context_given_with_a_sentence(client, registered_tag):
    from model.predictor import Predictor

    items = [
        {"text": "It is anything but that, the minister said.", "context": "Beijing calls its plan balanced."},
        "Critics dismissed the plan.",
        {"text": "Critics dismissed the plan."},
    ]
    response = client.post("/classify", json={"sentences": items})
    assert response.status_code == 200
    got = response.json()
    expected = Predictor.load(registered_tag).predict(
        [items[0]["text"], items[1], items[1]], [items[0]["context"], "", ""]
    )
    for prediction, want in zip(got, expected):
        assert prediction["stance_scores"] == pytest.approx(want.stance_scores, abs=1e-5)
    assert got[1] == got[2], "a plain string and an object without context are the same request"
    bad = client.post("/classify", json={"sentences": [{"context": "no text"}]})
    assert bad.status_code == 400 and "text" in bad.text


def test_analyze_returns_sentences_with_offsets_summary_and_model(client, registered_tag):
    text = SEED_ARTICLES[0].read_text(encoding="utf-8")
    response = client.post("/analyze", json={"text": text})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == registered_tag
    assert body["sentences"], "no sentences"
    for sentence in body["sentences"]:
        assert text[sentence["start"] : sentence["end"]] == sentence["text"]
        assert sentence["stance"] in STANCE_LABELS
    assert body["summary"]["sentences"] == len(body["sentences"])
    assert sum(body["summary"]["stance_counts"].values()) == len(body["sentences"])


def test_model_info_reports_tag_labels_limits_and_metrics(client, registered_tag):
    import bentoml

    response = client.post("/model_info")
    assert response.status_code == 200
    info = response.json()
    assert info["tag"] == registered_tag
    assert info["backend"] == "torch", "the tiny model has no int8 check, so auto serves fp32"
    assert info["stance_labels"] == list(STANCE_LABELS) and info["frame_labels"] == list(FRAME_LABELS)
    assert set(info["metrics"]) == {"stance", "frame"} and "macro_f1" in info["metrics"]["stance"]
    assert info["context_mode"] == "headline_previous"
    config = json.loads((Path(bentoml.models.get(registered_tag).path) / "config.json").read_text())
    assert info["low_confidence_thresholds"] == {
        "stance": config["stance_confidence_threshold"], "frame": config["frame_confidence_threshold"]
    }
    assert info["limits"]["max_sentences"] >= 1


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/classify", {"sentences": []}, "at least 1 item"),
        ("/classify", {"sentences": ["   "]}, "empty or only white space"),
        ("/classify", {"sentences": "one sentence"}, "valid array"),
        ("/classify", {"sentences": [42]}, "valid string"),
        ("/classify", {"sentences": ["a" * 5000]}, "at most 2000 characters"),
        ("/classify", {"sentences": ["a"] * 500}, "at most 128 items"),
        ("/classify", {}, "Field required"),
        ("/analyze", {"text": ""}, "at least 1 character"),
        ("/analyze", {"text": "\n \t"}, "empty or only white space"),
        ("/analyze", {"text": "a" * 100_001}, "at most 100000 characters"),
        ("/analyze", {"text": ["not", "a", "string"]}, "valid string"),
    ],
)
def test_invalid_input_is_a_400_that_names_the_problem(client, path, body, message):
    response = client.post(path, json=body)
    assert response.status_code == 400
    assert message in response.text


def test_malformed_json_is_a_400(client):
    response = client.post("/classify", content=b'{"sentences": [', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "Invalid JSON" in response.text


def test_health_and_metrics_endpoints(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "bentoml_service_request" in metrics.text


def test_openapi_document_is_complete_with_no_unresolved_refs(client):
    spec = client.get("/docs.json").json()
    assert {"/classify", "/analyze", "/model_info"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    refs: set[str] = set()

    def collect(node):
        if isinstance(node, dict):
            refs.update(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(spec)
    assert refs and all(ref.split("/")[-1] in schemas for ref in refs)
    assert schemas["Prediction"]["properties"]["stance"]["enum"] == list(STANCE_LABELS)
    classify_200 = spec["paths"]["/classify"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert classify_200["type"] == "array" and classify_200["items"]["$ref"].endswith("/Prediction")
    assert schemas["Prediction"]["properties"]["stance_scores"]["description"]


def test_calls_before_the_model_is_loaded_get_503_not_500():
    from bentoml.exceptions import ServiceUnavailable

    from service.service import StanceFrame

    loading = StanceFrame.inner.__new__(StanceFrame.inner)
    loading.predictor, loading.load_error, loading.ready = None, None, threading.Event()
    assert loading.__is_ready__() is False
    with pytest.raises(ServiceUnavailable, match="still loading") as error:
        loading._ready_predictor()
    assert error.value.error_code == 503


def test_a_body_that_is_not_json_is_a_415_with_a_message(client):
    response = client.post("/classify", content=b"sentences=a", headers={"content-type": "multipart/form-data"})
    assert response.status_code == 415
    assert "Content-Type must be application/json" in response.json()["error"]
    response = client.post("/classify", json={"sentences": ["ok"]}, headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200
