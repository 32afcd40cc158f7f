"""The prediction schema, defined once: what the predictor returns, the service sends and batch scoring writes.

The predictor builds these models; the HTTP service returns them as they are (their field
descriptions and examples are the OpenAPI document's); batch scoring derives its columns,
their order and its Arrow schema from `ScoredRow`. A field added here reaches all three.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from model.labels import FRAME_LABELS, STANCE_LABELS

Stance = Literal[STANCE_LABELS]
Frame = Literal[FRAME_LABELS]

EXAMPLE_STANCE_SCORES = {"supportive": 0.91, "skeptical": 0.03, "neutral": 0.06}
EXAMPLE_FRAME_SCORES = {
    "peace_process": 0.83, "diplomacy": 0.06, "credibility": 0.04, "security": 0.02,
    "economy": 0.01, "law_sovereignty": 0.01, "humanitarian": 0.02, "other": 0.01,
}
EXAMPLE_TAG = "stanceframe:a7pafjhhewyc4ax4"


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


class AnalyzedSentence(Prediction):
    """A sentence of the article, where it is, and its prediction."""

    index: int = Field(description="Position of the sentence in the article, from 0.", examples=[0])
    start: int = Field(description="Character offset where the sentence starts in the text.", examples=[0])
    end: int = Field(description="Character offset just after the sentence; text[start:end] is the sentence.", examples=[8])
    text: str = Field(description="The sentence.", examples=["BEIJING:"])


class ArticleSummary(BaseModel):
    """Article-level aggregates over its sentences."""

    sentences: int = Field(description="Number of sentences.", examples=[3])
    stance_counts: dict[str, int] = Field(
        description="Sentences per stance label.", examples=[{"supportive": 0, "skeptical": 1, "neutral": 2}]
    )
    stance_shares: dict[str, float] = Field(
        description="Share of sentences per stance label.", examples=[{"supportive": 0.0, "skeptical": 0.33, "neutral": 0.67}]
    )
    mean_stance_scores: dict[str, float] = Field(
        description="Mean probability of each stance label.", examples=[EXAMPLE_STANCE_SCORES]
    )
    mean_frame_scores: dict[str, float] = Field(
        description="Mean probability of each frame label.", examples=[EXAMPLE_FRAME_SCORES]
    )
    frame_counts: dict[str, int] = Field(description="Sentences per frame label.", examples=[{"diplomacy": 2, "other": 1}])
    dominant_frames: list[str] = Field(description="The most frequent frame(s), ties in label order.", examples=[["diplomacy"]])
    net_stance: float = Field(description="Supportive share minus skeptical share, from -1 to 1.", examples=[-0.33])


class ArticleAnalysis(BaseModel):
    """Every sentence of the article with its prediction, the summary, and the model tag."""

    sentences: list[AnalyzedSentence]
    summary: ArticleSummary
    model: str = Field(description="Tag of the model that made the predictions.", examples=[EXAMPLE_TAG])


class Neighbour(BaseModel):
    """A labeled training sentence near the explained one in the model's own sentence embedding space."""

    id: str = Field(description="The training sentence's id in its data file.", examples=["tw-0001"])
    text: str = Field(
        description="The training sentence.",
        examples=["Foreign ministry spokesperson Mao Ning said dialogue remains the only way out of the crisis."],
    )
    stance: Stance = Field(description="Its gold stance label.", examples=["supportive"])
    frame: Frame = Field(description="Its gold frame label.", examples=["peace_process"])
    similarity: float = Field(
        description="Cosine similarity of the two sentences' pooled embeddings (1: the same sentence).", examples=[0.87]
    )


class TokenAttribution(BaseModel):
    """How much one word of the sentence moved the predicted stance (leave-one-word-out occlusion)."""

    token: str = Field(description="The word, as it appears in the sentence.", examples=["rejected"])
    start: int = Field(description="Character offset of the word in the sentence.", examples=[11])
    end: int = Field(description="Character offset just after the word; sentence[start:end] is the word.", examples=[19])
    score: float = Field(
        description="The predicted stance's probability minus its probability with the word left out: positive "
        "when the word pushes toward the predicted stance, negative when it pulls away.",
        examples=[0.42],
    )


class Explanation(Prediction):
    """A sentence's prediction with why: its nearest labeled training sentences, and optionally word attributions."""

    neighbours: list[Neighbour] = Field(
        description="The most similar labeled training sentences, most similar first (empty when none were asked for)."
    )
    attributions: list[TokenAttribution] | None = Field(
        None, description="Each word's attribution to the predicted stance, in sentence order (when asked for)."
    )


def _labels(head: str) -> dict:
    """Marks a scores field for the Arrow schema: a struct with one float per label of `head`."""
    return {"scores_of": head}


class ScoredRow(BaseModel):
    """One output row of `stanceframe score`: a sentence with its prediction, or an input unit that failed."""

    id: str = Field(description="The input unit's id (file name, id column, or FILE:ROW).")
    sentence: int | None = Field(None, description="Position of the sentence in its input unit, from 0.",
                                 json_schema_extra={"arrow": "int32"})
    start: int | None = Field(None, description="Character offset of the sentence in the input text.")
    end: int | None = Field(None, description="Character offset just after the sentence.")
    text: str | None = Field(None, description="The sentence.")
    stance: Stance | None = None
    stance_scores: dict[str, float] | None = Field(None, json_schema_extra=_labels("stance"))
    frame: Frame | None = None
    frame_scores: dict[str, float] | None = Field(None, json_schema_extra=_labels("frame"))
    low_confidence: bool | None = None
    truncated: bool | None = None
    model: str = Field(description="Tag of the model that scored the row.")
    error: str | None = Field(None, description="Why the input unit could not be scored; empty for scored rows.")


class ScoredRowWithNeighbours(ScoredRow):
    """A row of `stanceframe score --neighbours K`: the scored row and its nearest labeled training sentences."""

    neighbours: list[Neighbour] | None = Field(
        None, description="The K most similar labeled training sentences, most similar first (JSON text in CSV)."
    )


SCORED_FIELDS: tuple[str, ...] = tuple(ScoredRow.model_fields)
