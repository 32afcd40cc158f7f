"""POST /explain in-process (ASGI test client): neighbours, attributions, caps and the OpenAPI entry."""

from __future__ import annotations

import asyncio
import threading

import pytest


@pytest.fixture(scope="module")
def team_written(tiny_data):
    from training.data import load_labeled

    return [s for s in load_labeled(tiny_data) if not s.article]


def test_explain_returns_predictions_with_the_nearest_training_sentences(client, registered_tag, team_written):
    from model.predictor import Predictor

    known = team_written[0]
    items = [known.text, {"text": "Critics dismissed the plan.", "context": "Beijing published a plan."}]
    response = client.post("/explain", json={"sentences": items, "neighbours": 3})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    first, second = response.json()
    # The same predictions as /classify's predictor.
    expected = Predictor.load(registered_tag).predict([known.text, items[1]["text"]], ["", items[1]["context"]])
    for got, want in zip((first, second), expected):
        assert got["stance"] == want.stance and got["stance_scores"] == pytest.approx(want.stance_scores, abs=1e-5)
        assert len(got["neighbours"]) == 3 and got["attributions"] is None
    top = first["neighbours"][0]
    assert (top["id"], top["text"], top["stance"], top["frame"]) == (known.id, known.text, known.stance, known.frame)
    assert top["similarity"] == pytest.approx(1.0, abs=1e-3)
    assert set(top) == {"id", "text", "stance", "frame", "similarity"}
    default = client.post("/explain", json={"sentences": [known.text]}).json()
    assert len(default[0]["neighbours"]) == 5
    assert client.post("/explain", json={"sentences": [known.text], "neighbours": 0}).json()[0]["neighbours"] == []


def test_explain_with_attributions_scores_each_word_at_its_offsets(client):
    sentence = "Officials in Kyiv rejected Beijing's twelve-point paper."
    response = client.post("/explain", json={"sentences": [sentence], "neighbours": 1, "attributions": True})
    assert response.status_code == 200
    [explained] = response.json()
    words = explained["attributions"]
    assert [w["token"] for w in words][:5] == ["Officials", "in", "Kyiv", "rejected", "Beijing"]
    assert all(sentence[w["start"] : w["end"]] == w["token"] for w in words)
    assert all(-1.0 <= w["score"] <= 1.0 for w in words)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"sentences": ["One."], "attributions": 0}, "valid boolean"),
        ({"sentences": ["One."], "neighbours": False}, "valid integer"),
        ({"sentences": ["One."], "neighbours": 21}, "less than or equal to 20"),
        ({"sentences": ["One."], "neighbours": -1}, "greater than or equal to 0"),
        ({"sentences": []}, "at least 1 item"),
        ({"sentences": ["  "]}, "empty or only white space"),
    ],
)
def test_explain_refuses_what_it_cannot_bound_with_a_400(client, body, message):
    response = client.post("/explain", json=body)
    assert response.status_code == 400
    assert message in response.text


def test_attributions_are_given_for_the_first_sentences_of_a_request_only(client):
    sentences = [f"Officials in Kyiv rejected paper number {i}." for i in range(6)]
    response = client.post("/explain", json={"sentences": sentences, "neighbours": 1, "attributions": True})
    assert response.status_code == 200, response.text
    explained = response.json()
    assert [item["attributions"] is not None for item in explained] == [True] * 4 + [False] * 2
    assert [item["neighbours"][0]["text"] is not None for item in explained] == [True] * 6


def test_explain_is_documented_with_its_errors(client):
    spec = client.get("/docs.json").json()
    responses = spec["paths"]["/explain"]["post"]["responses"]
    assert {"400", "413", "429", "501", "503", "504"} <= set(responses)
    assert "501" not in spec["paths"]["/classify"]["post"]["responses"]
    explanation = spec["components"]["schemas"]["Explanation"]["properties"]
    assert {"neighbours", "attributions", "stance"} <= set(explanation)
    assert "max_attribution_sentences" in client.post("/model_info").json()["limits"]


def test_neighbours_from_a_model_without_an_index_are_a_501_naming_the_fix(tiny_predictor):
    from bentoml.exceptions import BentoMLException

    from service.service import StanceFrame

    service = StanceFrame.inner.__new__(StanceFrame.inner)
    service.predictor, service.load_error, service.ready = tiny_predictor, None, threading.Event()
    service.no_neighbours = "The model at x has no neighbour index. Retrain with `stanceframe train`."
    with pytest.raises(BentoMLException, match="Retrain with") as error:
        asyncio.run(service.explain(sentences=["One."], neighbours=3))
    assert error.value.error_code == 501


def test_neighbours_unavailable_names_a_missing_index_and_a_missing_pooled_output(
    tiny_model_dir, tiny_onnx_model_dir, tmp_path
):
    import shutil

    from model.explain import neighbours_unavailable
    from model.neighbours import INDEX_DIR
    from model.predictor import Predictor
    from tests.test_embed import without_pooled_output

    assert neighbours_unavailable(Predictor.from_directory(tiny_model_dir)) is None
    folder = shutil.copytree(tiny_model_dir, tmp_path / "no-index", ignore=shutil.ignore_patterns(INDEX_DIR))
    assert "has no neighbour index" in neighbours_unavailable(Predictor.from_directory(folder))
    old_export = without_pooled_output(tiny_onnx_model_dir, tmp_path / "old-export")
    assert neighbours_unavailable(Predictor.from_directory(tiny_onnx_model_dir, backend="onnx-fp32")) is None
    assert "exported before the pooled" in neighbours_unavailable(Predictor.from_directory(old_export, backend="onnx-fp32"))
