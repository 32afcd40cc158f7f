"""The label schema: defined once here and imported everywhere.

The order of each tuple fixes the class ids of its head. A saved model records the
label lists it was trained with; loading one whose lists differ from these fails.
"""

from __future__ import annotations

from collections.abc import Sequence

STANCE_LABELS: tuple[str, ...] = ("supportive", "skeptical", "neutral")
FRAME_LABELS: tuple[str, ...] = (
    "peace_process",
    "diplomacy",
    "credibility",
    "security",
    "economy",
    "law_sovereignty",
    "humanitarian",
    "other",
)
HEADS: dict[str, tuple[str, ...]] = {"stance": STANCE_LABELS, "frame": FRAME_LABELS}

STANCE_TO_ID: dict[str, int] = {label: i for i, label in enumerate(STANCE_LABELS)}
FRAME_TO_ID: dict[str, int] = {label: i for i, label in enumerate(FRAME_LABELS)}
LABEL_TO_ID: dict[str, dict[str, int]] = {"stance": STANCE_TO_ID, "frame": FRAME_TO_ID}


class LabelSchemaError(ValueError):
    """A label or a saved model's label list does not match the schema."""


def check_label(head: str, label: object) -> str:
    """Return `label` if it belongs to `head`'s schema, else raise LabelSchemaError."""
    allowed = HEADS[head]
    if label not in allowed:
        raise LabelSchemaError(
            f"{head} label {label!r} is not in the schema; expected one of {list(allowed)}. "
            f"Fix the data or the label list in model/labels.py."
        )
    return label  # type: ignore[return-value]


def check_saved_labels(head: str, saved: Sequence[str], where: str) -> None:
    """Fail loudly when a saved model's label list for `head` differs from the schema."""
    expected = list(HEADS[head])
    if list(saved) != expected:
        raise LabelSchemaError(
            f"The model at {where} was trained with {head} labels {list(saved)}, "
            f"but this code expects {expected}. Retrain with `stanceframe train` "
            f"or load a model built for this schema."
        )
