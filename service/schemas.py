"""Request and response models of the HTTP API, with descriptions, examples and caps.

The caps are read from the environment when this module is imported, so a
deployment can change them without a code change:
STANCEFRAME_MAX_SENTENCES (per /classify or /explain request), STANCEFRAME_MAX_SENTENCE_CHARS,
STANCEFRAME_MAX_ARTICLE_CHARS and STANCEFRAME_MAX_ARTICLE_SENTENCES (per /analyze
request), STANCEFRAME_MAX_ATTRIBUTION_SENTENCES (per /explain request with attributions),
STANCEFRAME_MAX_BODY_BYTES (per request body, checked before parsing),
STANCEFRAME_MAX_METADATA_BYTES (the /analyze metadata, as JSON) and
STANCEFRAME_MAX_CORPUS_SENTENCES (per /corpus upload).
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any, Literal

from bentoml.validators import ContentType
from pydantic import AfterValidator, BaseModel, Field

from model.labels import FRAME_LABELS, STANCE_LABELS
from model.corpus import DEFAULT_MIN_SENTENCES, FREQUENCIES
from model.neighbours import MAX_NEIGHBOURS
from model.schema import EXAMPLE_TAG, ArticleAnalysis, Explanation, Prediction
from model.segment import VISIBLE_PATTERN, has_visible_text

MAX_SENTENCES = int(os.environ.get("STANCEFRAME_MAX_SENTENCES", "128"))
MAX_SENTENCE_CHARS = int(os.environ.get("STANCEFRAME_MAX_SENTENCE_CHARS", "2000"))
MAX_ARTICLE_CHARS = int(os.environ.get("STANCEFRAME_MAX_ARTICLE_CHARS", "100000"))
MAX_ARTICLE_SENTENCES = int(os.environ.get("STANCEFRAME_MAX_ARTICLE_SENTENCES", "1000"))
# A JSON string escapes a character in at most 6 bytes (\uXXXX); 2 MiB holds a full-size
# article or a full /classify request of ordinary text with room to spare.
MAX_BODY_BYTES = int(os.environ.get("STANCEFRAME_MAX_BODY_BYTES", str(2 << 20)))
# Word attributions run each sentence once per word: a few sentences per request.
MAX_ATTRIBUTION_SENTENCES = int(os.environ.get("STANCEFRAME_MAX_ATTRIBUTION_SENTENCES", "4"))
DEFAULT_NEIGHBOURS = 5
# An /analyze request's metadata, serialized as compact JSON: room for an outlet, a date, a URL, a title and tags.
MAX_METADATA_BYTES = int(os.environ.get("STANCEFRAME_MAX_METADATA_BYTES", "16384"))
# Sentences of one /corpus upload (its bytes are capped by STANCEFRAME_MAX_BODY_BYTES before parsing):
# about 10 s of the service's bulk throughput, well inside the 60 s request time limit.
MAX_CORPUS_SENTENCES = int(os.environ.get("STANCEFRAME_MAX_CORPUS_SENTENCES", "2000"))

EXAMPLE_SENTENCE = "China will continue to play a constructive role for a ceasefire to stop the war."
EXAMPLE_ARTICLE = (
    "BEIJING: Chinese President Xi Jinping will visit Russia from March 20 to 22. "
    "The visit comes as China offers to broker peace in Ukraine, an effort that has been met "
    "with scepticism in the West."
)


def not_blank(text: str) -> str:
    if not has_visible_text(text):
        raise ValueError("text is empty or only white space, control or zero-width characters")
    return text


# In the schema, the pattern (unanchored: "contains a visible character") states what
# `not_blank` checks, so generated clients and schemathesis know blank text is refused.
NOT_BLANK_SCHEMA = {"pattern": VISIBLE_PATTERN}

SentenceText = Annotated[
    str,
    Field(
        min_length=1, max_length=MAX_SENTENCE_CHARS, description="One sentence of news text.",
        json_schema_extra=NOT_BLANK_SCHEMA,
    ),
    AfterValidator(not_blank),
]
ContextText = Annotated[
    str,
    Field(
        max_length=MAX_SENTENCE_CHARS,
        description="What precedes the sentence in its article: the headline and the previous sentence.",
    ),
]


class SentenceInContext(BaseModel):
    """A sentence with the text before it, for models that read context (see /model_info)."""

    text: SentenceText
    context: ContextText = ""


SentenceList = Annotated[
    list[SentenceText | SentenceInContext],
    Field(
        min_length=1,
        max_length=MAX_SENTENCES,
        description=(
            f"Sentences to label, at most {MAX_SENTENCES}, each at most {MAX_SENTENCE_CHARS} characters: plain "
            "strings, or objects with the sentence's `text` and its `context` (the article's headline and the "
            "previous sentence), which models trained with context read."
        ),
        examples=[[
            EXAMPLE_SENTENCE,
            {"text": "It is anything but that, the minister said.",
             "context": "Beijing calls its plan balanced. Critics disagree."},
        ]],
    ),
]
ArticleText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ARTICLE_CHARS,
        description=f"A news article (plain text, at most {MAX_ARTICLE_CHARS} characters).",
        examples=[EXAMPLE_ARTICLE],
        json_schema_extra=NOT_BLANK_SCHEMA,
    ),
    AfterValidator(not_blank),
]


def small_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is limited to {MAX_METADATA_BYTES} bytes as JSON; send the fields that identify "
                         "the article (outlet, date, url ...) and keep the rest on your side")
    return value


Metadata = Annotated[
    dict[str, Any],
    Field(
        description=f"Any JSON object about the article (outlet, date, url ...), at most {MAX_METADATA_BYTES} bytes "
        "as JSON; it comes back unchanged in the response's `metadata` (an empty object when none is sent).",
        examples=[{"outlet": "Harbor Ledger", "date": "2023-03-21", "url": "https://harbor-ledger.example/xi"}],
    ),
    AfterValidator(small_metadata),
]


class AnalyzeResponse(ArticleAnalysis):
    """The article's analysis and the request's metadata, unchanged."""

    metadata: dict[str, Any] = Field(
        default_factory=dict, description="The request's `metadata`, unchanged (an empty object when none was sent).",
        examples=[{"outlet": "Harbor Ledger", "date": "2023-03-21"}],
    )


EXAMPLE_CORPUS = (
    '{"id": "a1", "outlet": "Harbor Ledger", "date": "2023-02-24", "text": "Beijing offers a plan. Critics doubt it."}\n'
    '{"id": "a2", "outlet": "Meridian Brief", "date": "2023-03-01", "text": "China published a paper on the war."}\n'
)
CorpusData = Annotated[
    str,
    Field(
        min_length=1, max_length=MAX_BODY_BYTES,
        description="The articles, one per JSONL line or CSV record, with a text column, an id column and the columns "
        f"to group by; at most {MAX_CORPUS_SENTENCES} sentences in all (STANCEFRAME_MAX_CORPUS_SENTENCES) and "
        f"{MAX_BODY_BYTES} bytes per request.",
        examples=[EXAMPLE_CORPUS],
        json_schema_extra=NOT_BLANK_SCHEMA,
    ),
    AfterValidator(not_blank),
]
ColumnName = Annotated[str, Field(min_length=1, max_length=200, description="A column of the upload.")]
CorpusFormat = Annotated[Literal["jsonl", "csv"], Field(description="How `data` is written.", examples=["jsonl"])]
Frequency = Annotated[Literal[FREQUENCIES], Field(description="Period of `time`.", examples=["month"])]
MinSentences = Annotated[int, Field(ge=1, le=100_000, description="Groups and periods with fewer sentences are marked.",
                                    examples=[DEFAULT_MIN_SENTENCES])]


class CorpusReport(BaseModel):
    """Stance and frames of the uploaded articles by group and period, with bootstrap intervals, charts and the report."""

    by_group: list[dict[str, Any]] = Field(description="One row per group (all periods): counts, shares with "
                                           "`_low`/`_high` interval bounds, net stance, small_sample, model.")
    by_period: list[dict[str, Any]] = Field(description="One row per group and period, the same columns.")
    top_sentences: list[dict[str, Any]] = Field(description="The most confident supportive and skeptical sentences per group.")
    models: list[str] = Field(description="Tags of the models that scored the rows.", examples=[[EXAMPLE_TAG]])
    warnings: list[str] = Field(description="What the reader must know: unknown dates, error rows.")
    charts: dict[str, str] = Field(description="The report's charts as SVG documents: stance_over_time, net_stance, frame_mix.")
    report_html: str = Field(description="The whole report as one self-contained HTML file.")
    sentences: int = Field(description="Sentences scored.", examples=[93])
    articles: int = Field(description="Articles with at least one scored sentence.", examples=[14])
    error_rows: int = Field(description="Input rows that could not be scored (counted, not in any share).", examples=[0])


# The media type is declared because otherwise BentoML derives it from the output's JSON
# schema on every response: a third of the server's CPU under single-sentence load.
ClassifyResponse = Annotated[list[Prediction], ContentType("application/json")]
ExplainResponse = Annotated[list[Explanation], ContentType("application/json")]
NeighbourCount = Annotated[
    int,
    Field(
        strict=True, ge=0, le=MAX_NEIGHBOURS,
        description=f"How many of the most similar labeled training sentences to return per sentence (0 to "
        f"{MAX_NEIGHBOURS}).",
        examples=[DEFAULT_NEIGHBOURS],
    ),
]
AttributionsWanted = Annotated[
    bool,
    Field(
        strict=True,
        description=f"Also score each word's part in the predicted stance (leave-one-word-out), for the first "
        f"{MAX_ATTRIBUTION_SENTENCES} sentences of the request (each costs one model run per word); later "
        "sentences come back with `attributions` null.",
        examples=[True],
    ),
]


class ModelInfo(BaseModel):
    """Which model is serving, its labels, thresholds, limits and training metrics."""

    tag: str = Field(description="BentoML model tag.", examples=[EXAMPLE_TAG])
    backend: str = Field(
        description="Inference backend answering the requests: onnx-int8 when the model's int8 export passed "
        "its accuracy check, else onnx-fp32 (torch for a model without an ONNX export), unless STANCEFRAME_BACKEND says otherwise.",
        examples=["onnx-int8"],
    )
    stance_labels: list[str] = Field(description="Stance labels in class-id order.", examples=[list(STANCE_LABELS)])
    frame_labels: list[str] = Field(description="Frame labels in class-id order.", examples=[list(FRAME_LABELS)])
    context_mode: str = Field(
        description="What the model reads with each sentence: none, previous (the previous sentence) or "
        "headline_previous (the article's first line and the previous sentence).",
        examples=["headline_previous"],
    )
    low_confidence_thresholds: dict[str, float] = Field(
        description="A head's top probability below this flags low_confidence (chosen on the development set).",
        examples=[{"stance": 0.62, "frame": 0.48}],
    )
    limits: dict[str, float] = Field(
        description="Request caps (set by environment variables, see the README).",
        examples=[{"max_sentences": MAX_SENTENCES, "max_body_bytes": MAX_BODY_BYTES}],
    )
    data_hash: str = Field(description="SHA-256 of the training data files.", examples=["481a8656..."])
    metrics: dict[str, dict[str, float]] = Field(
        description="Development-set metrics per head (macro_f1, accuracy, ece, temperature, ...), with the "
        "calibration fitted on that set; the model card has the cross-fitted figures.",
        examples=[{"stance": {"macro_f1": 0.81}, "frame": {"macro_f1": 0.76}}],
    )
