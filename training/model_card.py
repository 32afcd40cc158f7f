"""Render the evaluation report as the model card (`model/MODEL_CARD.md`)."""

from __future__ import annotations

from pathlib import Path

from model.labels import HEADS

SYSTEM_NAMES = {
    "model": "StanceFrame (fine-tuned MiniLM), calibration cross-fitted",
    "model_shipped_calibration": "StanceFrame, calibration as shipped (fitted on this set)",
    "model_uncalibrated": "StanceFrame, uncalibrated logits",
    "majority": "Majority class",
    "tfidf_logreg": "TF-IDF + logistic regression",
    "frozen_minilm_logreg": "Frozen MiniLM embeddings + logistic regression",
}

INTENDED_USE = """\
## Intended use

StanceFrame labels each sentence of English news text with its stance toward China's
peace plan for the war in Ukraine (`supportive`, `skeptical`, `neutral`) and its frame
(eight frames mapped to the Policy Frames Codebook), following
`../shared/annotation-guidelines.md`. It is meant for media analysts and researchers who
compare how coverage treats the plan across outlets and over time, in aggregate.

## Known limits

- All training and development text was written by the team (team-written articles in
  many outlet registers, plus five real seed articles). The development set was written
  by writers who never saw the training data, but it is still not real coverage: an
  independently written set scored about 0.1 stance macro-F1 above real coverage for an
  earlier model, so **expect real news to score below the development-set figures**.
- A sentence is read with its context (the article's first line and the previous
  sentence) when the model was trained with it and the caller gives it (`/analyze` and
  `stanceframe score --unit article` always do). Without context, quotes and pronouns
  whose referent sits elsewhere can be mislabeled.
- Not for judging individual articles or journalists, and not for other conflicts,
  other peace plans or other languages.
- Probabilities are calibrated on the development set (per-head temperature and bias);
  predictions whose top probability falls below a head's threshold are flagged
  `low_confidence` and should be reviewed by a person.
- Sentences longer than the model window (128 tokens) are truncated and flagged `truncated`.
"""

GOALS = (
    ("stance macro-F1", lambda d: d["stance"]["systems"]["model"]["macro_f1"], ">= 0.75"),
    ("lowest stance class F1", lambda d: min(c["f1"] for c in d["stance"]["systems"]["model"]["per_class"].values()), ">= 0.60"),
    ("frame accuracy", lambda d: d["frame"]["systems"]["model"]["accuracy"], ">= 0.75"),
    ("frame macro-F1", lambda d: d["frame"]["systems"]["model"]["macro_f1"], ">= 0.60"),
    ("stance ECE", lambda d: d["stance"]["calibration"]["ece"], "<= 0.08"),
)


def interval(value: float, bounds: list[float]) -> str:
    return f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"


def systems_table(evaluation: dict, head: str) -> list[str]:
    lines = ["| system | macro-F1 [95% CI] | accuracy [95% CI] |", "|---|---|---|"]
    for system, result in evaluation["heads"][head]["systems"].items():
        lines.append(
            f"| {SYSTEM_NAMES.get(system, system)} | {interval(result['macro_f1'], result['macro_f1_ci95'])} "
            f"| {interval(result['accuracy'], result['accuracy_ci95'])} |"
        )
    return lines


def per_class_table(evaluation: dict, head: str) -> list[str]:
    systems = evaluation["heads"][head]["systems"]
    lines = ["| class | support | " + " | ".join(SYSTEM_NAMES.get(s, s) + " F1" for s in systems) + " |"]
    lines.append("|---|---|" + "---|" * len(systems))
    for label in HEADS[head]:
        cells = [interval(r["per_class"][label]["f1"], r["per_class"][label]["f1_ci95"]) for r in systems.values()]
        support = next(iter(systems.values()))["per_class"][label]["support"]
        lines.append(f"| {label} | {support} | " + " | ".join(cells) + " |")
    return lines


def confusion_table(evaluation: dict, head: str) -> list[str]:
    matrix = evaluation["heads"][head]["systems"]["model"]["confusion_matrix"]
    labels = matrix["labels"]
    lines = ["| true \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for label, row in zip(labels, matrix["rows_true_columns_predicted"]):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def calibration_lines(report: dict) -> list[str]:
    lines = [
        "| evaluation | head | ECE | low-confidence threshold | share flagged | accuracy (confident) "
        "| accuracy (flagged) |",
        "|---|---|---|---|---|---|---|",
    ]

    def fmt(value):
        return "–" if value is None else f"{value:.3f}"

    for name, evaluation in report["evaluations"].items():
        for head in HEADS:
            calibration = evaluation["heads"][head].get("calibration")
            if calibration:
                lines.append(
                    f"| {name} | {head} | {calibration['ece']:.3f} | {calibration['low_confidence_threshold']:.3f} "
                    f"| {calibration['low_confidence_share']:.3f} | {fmt(calibration['accuracy_confident'])} "
                    f"| {fmt(calibration['accuracy_low_confidence'])} |"
                )
    return lines


def goal_lines(dev: dict) -> list[str]:
    lines = ["| goal (issue #12) | development set | target |", "|---|---|---|"]
    lines += [f"| {name} | {value(dev['heads']):.3f} | {target} |" for name, value, target in GOALS]
    return lines


def behaviour_lines(results: list[dict]) -> list[str]:
    lines = [
        "| test | kind | head | capability | cases | failure rate | a failing case |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        example = result["examples"][0] if result["examples"] else None
        shown = "–" if example is None else f"{' → '.join(example['case'])} ({example['found']})".replace("|", "/")
        lines.append(
            f"| {result['name']} | {result['kind']} | {result['head']} | {result['capability']} | {result['cases']} "
            f"| {result['failure_rate']:.2f} | {shown} |"
        )
    return lines


def serving_precision(int8_check: dict) -> str:
    """Which backend `auto` serves, and the int8 check behind it; the results below are fp32."""
    if not int8_check:
        return "- Served as torch fp32 (no int8 check recorded); the results below are of the fp32 network."
    figures = "; ".join(
        f"{head} labels agree on {int8_check[head]['agreement']:.1%}, macro-F1 change "
        f"{int8_check[head]['macro_f1_change']:+.3f}"
        for head in HEADS
    )
    backend = "ONNX Runtime int8" if int8_check["passed"] else "ONNX Runtime fp32 (int8 failed the check)"
    return (
        f"- Served by default as {backend}. int8 against fp32 on the {int8_check['sentences']} "
        f"{int8_check['corpus']}: {figures}. The results below are of the fp32 network."
    )


def label_counts(counts: dict) -> str:
    return "; ".join(f"{head}: " + ", ".join(f"{k} {v}" for k, v in by_label.items()) for head, by_label in counts.items())


def render_model_card(report: dict, experiments: Path) -> str:
    config = report["train_config"]
    calibration = report["calibration"]
    dev = report["evaluations"]["dev"]
    lines = [
        "# Model card: StanceFrame",
        "",
        "_Generated by `stanceframe evaluate`; do not edit by hand. "
        "The experiment history is kept in `training/experiments.md`._",
        "",
        f"- Model: `{report['model']}` (all-MiniLM-L6-v2 encoder, mean pooling over the sentence, a stance and "
        f"a frame head; context: `{config['context_mode']}`; weights averaged over {config['average_seeds']} seed(s))",
        f"- Training data: {', '.join(f'`{p}`' for p in report['data_files'])} — {report['sentences']} sentences. "
        f"{label_counts(report['label_counts']['train'])}",
        f"- Development set (never trained on): {', '.join(f'`{p}`' for p in report['dev_files'])} — "
        f"{report['dev_sentences']} sentences. {label_counts(report['label_counts']['dev'])}",
        f"- Data hash `{report['data_hash'][:16]}`; training time (fit, calibration, ONNX export and check, "
        f"2 CPU cores): {report.get('train_seconds')} s",
        "- Calibration (fitted on the development set): "
        + "; ".join(
            f"{head} temperature {c['temperature']:.2f}, bias [{', '.join(f'{b:+.2f}' for b in c['bias'])}], "
            f"low-confidence threshold {c['low_confidence_threshold']:.3f}"
            for head, c in calibration.items()
        ),
        serving_precision(report.get("int8_check") or {}),
        f"- Evaluated with the `{report['backend']}` backend.",
        "",
        INTENDED_USE,
        "## Results on unseen sources: the blind development set",
        "",
        f"{dev['description']}. 95% intervals come from {report['bootstrap_samples']} bootstrap resamples "
        "of articles. The model's headline rows use calibration cross-fitted over two halves of the "
        "development articles (each half calibrated on the other), so no figure is fitted on itself. "
        "Baselines are trained on exactly the model's training data. **These figures overstate "
        "performance on real coverage** (see Known limits).",
        "",
        *goal_lines(dev),
        "",
    ]
    for head in HEADS:
        lines += [f"**{head}**", "", *systems_table(dev, head), ""]
    lines += ["### Per-class F1 (development set)", ""]
    for head in HEADS:
        lines += [f"**{head}**", "", *per_class_table(dev, head), ""]
    lines += ["### Confusion matrices of the model (development set, cross-fitted calibration)", ""]
    for head in HEADS:
        lines += [f"**{head}**", "", *confusion_table(dev, head), ""]
    lines += [
        "## Calibration",
        "",
        "Expected calibration error (15 bins, top label). A prediction is flagged `low_confidence` when either "
        f"head's top probability is below its threshold; each threshold flags the least confident "
        f"{config['low_confidence_share']:.0%} of that head's development-set predictions.",
        "",
        *calibration_lines(report),
        "",
        "## Behavioural tests",
        "",
        "CheckList-style tests (`training/behaviour.py`): MFT cases must get the expected label; INV edits "
        "must not change the label; DIR edits must not move the named class's probability the wrong way "
        "(by more than 0.05). Cases are template-generated by the team for testing only.",
        "",
        *behaviour_lines(report["behaviour"]),
        "",
    ]
    for name, evaluation in report["evaluations"].items():
        if name in ("dev", "dev_shipped_calibration"):
            continue
        lines += [f"## {name}", "", f"{evaluation['description']} (n = {evaluation['n']}).", ""]
        for head in HEADS:
            lines += [f"**{head}**", "", *systems_table(evaluation, head), ""]
    if experiments.is_file():
        lines += [experiments.read_text().rstrip(), ""]
    return "\n".join(lines)
