"""Request and response models of the HTTP API, with descriptions, examples and caps.

The caps are read from the environment when this module is imported, so a
deployment can change them without a code change:
STANCEFRAME_MAX_SENTENCES (per /classify request), STANCEFRAME_MAX_SENTENCE_CHARS,
STANCEFRAME_MAX_ARTICLE_CHARS and STANCEFRAME_MAX_ARTICLE_SENTENCES (per /analyze
request), STANCEFRAME_MAX_BODY_BYTES (per request body, checked before parsing).
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from bentoml.validators import ContentType
from pydantic import AfterValidator, BaseModel, Field

from model.labels import FRAME_LABELS, STANCE_LABELS
from model.segment import VISIBLE_PATTERN, has_visible_text

MAX_SENTENCES = int(os.environ.get("STANCEFRAME_MAX_SENTENCES", "128"))
MAX_SENTENCE_CHARS = int(os.environ.get("STANCEFRAME_MAX_SENTENCE_CHARS", "2000"))
MAX_ARTICLE_CHARS = int(os.environ.get("STANCEFRAME_MAX_ARTICLE_CHARS", "100000"))
MAX_ARTICLE_SENTENCES = int(os.environ.get("STANCEFRAME_MAX_ARTICLE_SENTENCES", "1000"))
# A JSON string escapes a character in at most 6 bytes (\uXXXX); 2 MiB holds a full-size
# article or a full /classify request of ordinary text with room to spare.
MAX_BODY_BYTES = int(os.environ.get("STANCEFRAME_MAX_BODY_BYTES", str(2 << 20)))

Stance = Literal[STANCE_LABELS]
Frame = Literal[FRAME_LABELS]

EXAMPLE_SENTENCE = "China will continue to play a constructive role for a ceasefire to stop the war."
EXAMPLE_ARTICLE = (
    "BEIJING: Chinese President Xi Jinping will visit Russia from March 20 to 22. "
    "The visit comes as China offers to broker peace in Ukraine, an effort that has been met "
    "with scepticism in the West."
)
EXAMPLE_STANCE_SCORES = {"supportive": 0.91, "skeptical": 0.03, "neutral": 0.06}
EXAMPLE_FRAME_SCORES = {
    "peace_process": 0.83, "diplomacy": 0.06, "credibility": 0.04, "security": 0.02,
    "economy": 0.01, "law_sovereignty": 0.01, "humanitarian": 0.02, "other": 0.01,
}


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


class Prediction(BaseModel):
    """Stance and frame of one sentence, with the calibrated probability of every label."""

    stance: Stance = Field(description="Stance toward China's peace plan.", examples=["supportive"])
    stance_scores: dict[str, float] = Field(
        description="Probability of each stance label; they sum to 1.", examples=[EXAMPLE_STANCE_SCORES]
    )
    frame: Frame = Field(description="Primary frame (Policy Frames Codebook mapping).", examples=["peace_process"])
    frame_scores: dict[str, float] = Field(
        description="Probability of each frame label; they sum to 1.", examples=[EXAMPLE_FRAME_SCORES]
    )
    low_confidence: bool = Field(
        description="True when either head's top probability is below its threshold (see /model_info).",
        examples=[False],
    )
    truncated: bool = Field(description="True when the sentence was cut to the model window.", examples=[False])


# The media type is declared because otherwise BentoML derives it from the output's JSON
# schema on every response: a third of the server's CPU under single-sentence load.
ClassifyResponse = Annotated[list[Prediction], ContentType("application/json")]


class AnalyzedSentence(Prediction):
    """A sentence of the article, where it is, and its prediction."""

    index: int = Field(description="Position of the sentence in the article, from 0.", examples=[0])
    start: int = Field(description="Character offset where the sentence starts in the text.", examples=[0])
    end: int = Field(description="Character offset just after the sentence; text[start:end] is the sentence.", examples=[8])
    text: str = Field(description="The sentence.", examples=["BEIJING:"])


class ArticleSummary(BaseModel):
    """Article-level aggregates over its sentences."""

    sentences: int = Field(description="Number of sentences.", examples=[3])
    stance_counts: dict[str, int] = Field(description="Sentences per stance label.", examples=[{"supportive": 0, "skeptical": 1, "neutral": 2}])
    stance_shares: dict[str, float] = Field(description="Share of sentences per stance label.", examples=[{"supportive": 0.0, "skeptical": 0.33, "neutral": 0.67}])
    mean_stance_scores: dict[str, float] = Field(description="Mean probability of each stance label.", examples=[EXAMPLE_STANCE_SCORES])
    mean_frame_scores: dict[str, float] = Field(description="Mean probability of each frame label.", examples=[EXAMPLE_FRAME_SCORES])
    frame_counts: dict[str, int] = Field(description="Sentences per frame label.", examples=[{"diplomacy": 2, "other": 1}])
    dominant_frames: list[str] = Field(description="The most frequent frame(s), ties in label order.", examples=[["diplomacy"]])
    net_stance: float = Field(description="Supportive share minus skeptical share, from -1 to 1.", examples=[-0.33])


class AnalyzeResponse(BaseModel):
    """Every sentence of the article with its prediction, the summary, and the model tag."""

    sentences: list[AnalyzedSentence]
    summary: ArticleSummary
    model: str = Field(description="Tag of the model that made the predictions.", examples=["stanceframe:a7pafjhhewyc4ax4"])


class ModelInfo(BaseModel):
    """Which model is serving, its labels, thresholds, limits and training metrics."""

    tag: str = Field(description="BentoML model tag.", examples=["stanceframe:a7pafjhhewyc4ax4"])
    backend: str = Field(
        description="Inference backend answering the requests: onnx-int8 when the model's int8 export passed "
        "its accuracy check, else torch (fp32), unless STANCEFRAME_BACKEND says otherwise.",
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
