"""What labeling tools read and write: Label Studio's labeling config, tasks and export results, Argilla records.

One name per head for every tool: the `Choices` (Label Studio) or label question (Argilla)
of a head is named after it (`stance`, `frame`), its values are the head's labels from
`model/labels.py`, and the sentence is the `text` field (the `context` field beside it).
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from model.labels import HEADS

TEXT_FIELD = "text"
CONTEXT_FIELD = "context"
CHOICES_TYPE = "choices"


def label_studio_config() -> str:
    """The Label Studio labeling config (XML) for suggestions: the sentence, its context, one choice per head."""
    lines = [
        "<View>",
        '  <Header value="Context (the headline and the previous sentence)"/>',
        f'  <Text name="{CONTEXT_FIELD}" value="${CONTEXT_FIELD}"/>',
        '  <Header value="Sentence to label"/>',
        f'  <Text name="{TEXT_FIELD}" value="${TEXT_FIELD}"/>',
    ]
    for head, labels in HEADS.items():
        lines.append(f'  <Header value="{head.capitalize()}"/>')
        lines.append(f'  <Choices name="{head}" toName="{TEXT_FIELD}" choice="single" showInline="true" required="true">')
        lines.extend(f"    <Choice value={quoteattr(label)}/>" for label in labels)
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def choice_result(head: str, label: str) -> dict:
    """One Label Studio result item: `label` chosen for `head`."""
    return {"from_name": head, "to_name": TEXT_FIELD, "type": CHOICES_TYPE, "value": {CHOICES_TYPE: [label]}}


def chosen_labels(result: list, where: str) -> tuple[dict[str, str], list[str]]:
    """The label chosen per head in a Label Studio annotation's `result`, and what is wrong with it."""
    chosen: dict[str, str] = {}
    problems: list[str] = []
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, dict) or item.get("from_name") not in HEADS:
            continue
        head = item["from_name"]
        choices = (item.get("value") or {}).get(CHOICES_TYPE)
        if not isinstance(choices, list) or len(choices) != 1:
            problems.append(f"{where}: {head} needs exactly one choice, found {choices!r}")
            continue
        chosen[head] = choices[0]
    return chosen, problems


def argilla_record(record_id: str, text: str, context: str, predictions: dict[str, tuple[str, float]],
                   agent: str, metadata: dict) -> dict:
    """An Argilla 2.x record as `rg.Record.from_dict` reads it: fields, the model's suggestions with scores, metadata."""
    return {
        "id": record_id,
        "fields": {TEXT_FIELD: text, CONTEXT_FIELD: context},
        "metadata": metadata,
        "suggestions": {
            head: {"value": label, "score": score, "agent": agent} for head, (label, score) in predictions.items()
        },
        "responses": {},
        "vectors": {},
    }
