"""The BentoML service in-process (ASGI test client): status codes, messages, schema."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from model.labels import FRAME_LABELS, STANCE_LABELS
from tests.conftest import SEED_ARTICLES


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
    # The same request: the same labels, and scores equal up to the float noise of a row's place in a batch.
    assert {k: v for k, v in got[1].items() if not k.endswith("_scores")} == {
        k: v for k, v in got[2].items() if not k.endswith("_scores")
    }
    assert got[1]["stance_scores"] == pytest.approx(got[2]["stance_scores"], abs=1e-6)
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
    # The page renders the description: BentoML's default one embeds badge images from third-party hosts.
    assert "http" not in spec["info"]["description"] and "/analyze" in spec["info"]["description"]


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


def test_two_content_type_headers_are_a_415_not_a_500(client):
    response = client.post(
        "/classify", content=b'{"sentences": ["ok"]}',
        headers=[("content-type", "multipart/form-data"), ("content-type", "application/json")],
    )
    assert response.status_code == 415
    assert "2 Content-Type headers" in response.json()["error"]


def test_a_body_over_the_limit_is_a_413_before_it_is_parsed(client):
    from service.schemas import MAX_BODY_BYTES

    oversized = b'{"text": "' + b"a" * MAX_BODY_BYTES + b'"}'
    response = client.post("/analyze", content=oversized, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert f"limited to {MAX_BODY_BYTES} bytes" in response.json()["error"]

    def chunked():
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"a" * 65536

    # No Content-Length: the body is counted as it arrives.
    response = client.post("/analyze", content=chunked(), headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("text", ["\x00\x00", "\u200b\u200b", "\u2060 \ufeff"])
def test_sentences_of_only_invisible_characters_are_refused(client, text):
    response = client.post("/classify", json={"sentences": [text]})
    assert response.status_code == 400 and "zero-width" in response.text
    assert client.post("/analyze", json={"text": text}).status_code == 400


def test_an_article_over_the_sentence_cap_is_a_400_naming_the_cap(client):
    from service.schemas import MAX_ARTICLE_SENTENCES

    text = "\n".join("A." for _ in range(MAX_ARTICLE_SENTENCES + 1))
    response = client.post("/analyze", json={"text": text})
    assert response.status_code == 400
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["text"] and f"at most {MAX_ARTICLE_SENTENCES} are accepted" in problem["msg"]
    assert client.post("/analyze", json={"text": "\n".join(["A."] * MAX_ARTICLE_SENTENCES)}).status_code == 200


@pytest.mark.parametrize("text", [
    "..[" + " ".join(["111"] * 26) + "]",
    "Critics call it a ♭ sham. China welcomed it.",
])
def test_inputs_that_hung_or_lost_sentences_are_answered_in_full(client, text):
    started = time.monotonic()
    response = client.post("/analyze", json={"text": text})
    assert response.status_code == 200 and time.monotonic() - started < 10
    sentences = response.json()["sentences"]
    assert "".join(s["text"] for s in sentences).replace(" ", "") == text.replace(" ", "")


def test_the_root_page_loads_nothing_from_outside(client):
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/api"
    page = client.get("/ui/api")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for body in (page.text, client.get("/ui/api.js").text):
        assert "http://" not in body and "https://" not in body and "googletagmanager" not in body
    assert "validatorUrl: null" in client.get("/ui/api.js").text


def test_the_openapi_document_describes_the_errors_the_service_sends(client):
    spec = client.get("/docs.json").json()
    error = spec["components"]["schemas"]["ServiceError"]
    assert {"type": "array", "items": {"type": "object"}} in error["properties"]["detail"]["anyOf"]
    for path in ("/classify", "/analyze"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"400", "408", "413", "415", "429", "503", "504"} <= set(responses)
        assert responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ServiceError")
    body = client.post("/classify", json={"sentences": [""]}).json()
    assert isinstance(body["error"], str) and isinstance(body["detail"], list) and body["detail"][0]["loc"]


def test_model_info_reports_every_limit(client):
    from service.service import LIMITS

    limits = client.post("/model_info").json()["limits"]
    assert limits == LIMITS
    assert {"max_body_bytes", "max_article_sentences", "max_in_flight_per_worker", "timeout_seconds"} <= set(limits)


def test_analyze_echoes_the_metadata_unchanged_and_refuses_a_wrong_type_or_size(client):
    metadata = {"outlet": "Harbor Ledger", "date": "2023-03-21", "tags": ["xi", 2], "nested": {"a": None}}
    body = client.post("/analyze", json={"text": "Xi visits Moscow. Critics doubt the plan.", "metadata": metadata}).json()
    assert body["metadata"] == metadata and body["summary"]["sentences"] == 2
    assert client.post("/analyze", json={"text": "Xi visits Moscow."}).json()["metadata"] == {}
    assert client.post("/analyze", json={"text": "Xi visits Moscow.", "metadata": None}).status_code == 400
    wrong = client.post("/analyze", json={"text": "Xi visits Moscow.", "metadata": ["outlet"]})
    assert wrong.status_code == 400 and "metadata" in wrong.text and "should be an object" in wrong.text
    huge = client.post("/analyze", json={"text": "Xi visits Moscow.", "metadata": {"x": "a" * 20_000}})
    assert huge.status_code == 400 and "metadata is limited to 16384 bytes" in huge.text


CORPUS_ROWS = [
    {"id": "h1", "outlet": "Harbor Ledger", "date": "2023-02-24", "url": "https://harbor.example/h1",
     "text": "Beijing's paper offers principles, not a plan. Critics doubt China can be a broker."},
    {"id": "h2", "outlet": "Harbor Ledger", "date": "2023-03-21", "url": "https://harbor.example/h2",
     "text": "Xi held talks in Moscow. Officials said the plan featured in the talks."},
    {"id": "s1", "outlet": "Silk Road", "date": "2023-02-24", "url": "https://silk.example/s1",
     "text": "China released its position paper. It offers a constructive framework."},
    {"id": "s2", "outlet": "Silk Road", "date": "not a date", "text": "   "},
]


def test_the_corpus_view_scores_an_upload_like_batch_scoring_and_reports_it(client, registered_tag, tmp_path):
    from model.corpus import ReportConfig, build_tables
    from model.score import main as score_main

    data = "".join(json.dumps(row) + "\n" for row in CORPUS_ROWS)
    response = client.post("/corpus", json={"data": data, "by": "outlet", "time": "date", "freq": "month",
                                            "min_sentences": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["sentences"], body["articles"], body["error_rows"]) == (6, 3, 1)
    assert body["models"] == [registered_tag]
    assert any("no ISO date" in w for w in body["warnings"])
    assert set(body["charts"]) == {"stance_over_time", "net_stance", "frame_mix"}
    assert all(svg.startswith("<svg") for svg in body["charts"].values())
    assert body["report_html"].startswith("<!doctype html>")
    assert {row["url"] for row in body["top_sentences"]} <= {"https://harbor.example/h1", "https://harbor.example/h2",
                                                             "https://silk.example/s1"}

    # The same numbers as `stanceframe score --keep` and the report's tables.
    source = write_jsonl_text(tmp_path / "in.jsonl", data)
    assert score_main([str(source), "--keep", "outlet,date,url", "--output", str(tmp_path / "out.jsonl"),
                       "--model", registered_tag]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    expected = build_tables(rows, ReportConfig(by="outlet", time="date", freq="month", min_sentences=5))
    assert body["by_period"] == expected.by_period

    csv_data = "id,outlet,text\nc1,X,China urged talks. Critics doubted it.\n"
    as_csv = client.post("/corpus", json={"data": csv_data, "format": "csv", "by": "outlet"})
    assert as_csv.status_code == 200 and as_csv.json()["by_group"][0]["outlet"] == "X"


def write_jsonl_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": '{"id": "a", "text": "Talks."}\n', "by": "outlet"}, "has no column 'outlet'"),
        ({"data": "id,body\na,Talks.\n", "format": "csv"}, "has no column 'text'"),
        ({"data": '{"id": "a", "text": "Talks."}\n', "freq": "day"}, "'week' or 'month'"),
        ({"data": "   "}, "empty or only white space"),
        ({"data": 42}, "valid string"),
    ],
)
def test_an_unusable_corpus_upload_is_a_400_that_names_the_problem(client, body, message):
    response = client.post("/corpus", json=body)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert "/tmp/" not in response.text


def test_a_corpus_over_the_sentence_cap_is_a_400_naming_the_cap(client, monkeypatch):
    import service.service

    monkeypatch.setattr(service.service, "MAX_CORPUS_SENTENCES", 3)
    data = "".join(json.dumps(row) + "\n" for row in CORPUS_ROWS)
    response = client.post("/corpus", json={"data": data, "by": "outlet"})
    assert response.status_code == 400
    assert "6 sentences; the corpus view scores at most 3" in response.text
    from service.schemas import MAX_BODY_BYTES

    too_large = client.post("/corpus", json={"data": "x" * (MAX_BODY_BYTES + 1)})
    assert too_large.status_code == 413 and "limited to" in too_large.text
