"""One prediction schema: the predictor returns it, the service sends it, batch scoring writes it."""

from __future__ import annotations

import typing

import pyarrow as pa

from model.labels import FRAME_LABELS, STANCE_LABELS
from model.schema import SCORED_FIELDS, AnalyzedSentence, ArticleAnalysis, Prediction, ScoredRow


def test_every_prediction_field_is_a_column_of_batch_scoring():
    assert set(Prediction.model_fields) <= set(ScoredRow.model_fields)
    assert set(AnalyzedSentence.model_fields) - set(Prediction.model_fields) == {"index", "start", "end", "text"}
    assert SCORED_FIELDS[:2] == ("id", "sentence") and SCORED_FIELDS[-2:] == ("model", "error")


def test_the_arrow_schema_is_derived_from_the_row_model():
    from model.score import arrow_schema

    parquet = arrow_schema(scores_as_json=False)
    assert parquet.names == list(SCORED_FIELDS)
    assert parquet.field("stance_scores").type == pa.struct([(label, pa.float64()) for label in STANCE_LABELS])
    assert parquet.field("frame_scores").type.num_fields == len(FRAME_LABELS)
    assert parquet.field("sentence").type == pa.int32() and parquet.field("start").type == pa.int64()
    assert parquet.field("low_confidence").type == pa.bool_() and parquet.field("stance").type == pa.string()
    assert arrow_schema(scores_as_json=True).field("stance_scores").type == pa.string()


def test_the_predictor_returns_the_schema_models(tiny_predictor):
    [prediction] = tiny_predictor.predict(["China urged talks."])
    assert isinstance(prediction, Prediction)
    Prediction.model_validate(prediction.model_dump())
    analysis = tiny_predictor.analyze("BEIJING: China urged talks. Critics scoffed.")
    assert isinstance(analysis, ArticleAnalysis)
    ArticleAnalysis.model_validate(analysis.model_dump())


def test_the_service_answers_with_the_schema_models():
    from service.schemas import AnalyzeResponse, ClassifyResponse

    # The article's analysis as the predictor makes it, plus the request's metadata echoed back.
    assert issubclass(AnalyzeResponse, ArticleAnalysis)
    assert set(AnalyzeResponse.model_fields) - set(ArticleAnalysis.model_fields) == {"metadata"}
    assert typing.get_args(ClassifyResponse)[0] == list[Prediction]
