"""Render the evaluation report as the model card (`model/MODEL_CARD.md`)."""

from __future__ import annotations

from pathlib import Path

from model.labels import HEADS

SYSTEM_NAMES = {"model": "StanceFrame (fine-tuned MiniLM)", "majority": "Majority class", "tfidf_logreg": "TF-IDF + logistic regression"}

INTENDED_USE = """\
## Intended use

StanceFrame labels each sentence of English news text with its stance toward China's
peace plan for the war in Ukraine (`supportive`, `skeptical`, `neutral`) and its frame
(eight frames mapped to the Policy Frames Codebook), following
`../shared/annotation-guidelines.md`. It is meant for media analysts and researchers who
compare how coverage treats the plan across outlets and over time, in aggregate.

## Known limits

- The training data is small: five near-identical wire reports of one announcement
  (March 2023) plus sentences the team wrote. The cross-source rows below are the best
  available estimate of performance on unseen outlets; the in-distribution
  cross-validation numbers are optimistic.
- One sentence at a time: a bare quote or a pronoun whose referent sits in another
  sentence can be mislabeled, where a human annotator would read the context.
- Not for judging individual articles or journalists, and not for other conflicts,
  other peace plans or other languages.
- Probabilities are temperature-scaled on out-of-fold predictions; predictions whose top
  probability falls below the threshold are flagged `low_confidence` and should be
  reviewed by a person.
- Sentences longer than the model window (128 tokens) are truncated and flagged `truncated`.
"""


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
    temperatures = report.get("training_cross_validation", {})
    lines = [
        "| evaluation | head | temperature | ECE before | ECE after | low-confidence threshold "
        "| share flagged | accuracy (confident) | accuracy (flagged) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, evaluation in report["evaluations"].items():
        for head in HEADS:
            calibration = evaluation["heads"][head].get("calibration")
            if not calibration:
                continue
            fitted = temperatures.get(head, {})
            before = f"{fitted['ece_uncalibrated']:.3f}" if name == "cross_validation" and fitted else "–"
            temperature = f"{fitted['temperature']:.2f}" if fitted else "–"

            def fmt(value):
                return "–" if value is None else f"{value:.3f}"

            lines.append(
                f"| {name} | {head} | {temperature} | {before} | {calibration['ece']:.3f} "
                f"| {calibration['low_confidence_threshold']} | {calibration['low_confidence_share']:.3f} "
                f"| {fmt(calibration['accuracy_confident'])} | {fmt(calibration['accuracy_low_confidence'])} |"
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
    backend = "ONNX Runtime int8" if int8_check["passed"] else "torch fp32 (int8 failed the check)"
    return (
        f"- Served by default as {backend}. int8 against fp32 on the {int8_check['sentences']} "
        f"{int8_check['corpus']}: {figures}. The results below are of the fp32 network."
    )


def render_model_card(report: dict, experiments: Path) -> str:
    counts = report["label_counts"]
    lines = [
        "# Model card: StanceFrame",
        "",
        "_Generated by `stanceframe evaluate`; do not edit by hand. "
        "The experiment history is kept in `training/experiments.md`._",
        "",
        f"- Model: `{report['model']}` (all-MiniLM-L6-v2 encoder, mean pooling, a stance and a frame head)",
        f"- Training data: {', '.join(f'`{p}`' for p in report['data_files'])} — "
        f"{report['sentences']} sentences in {report['clusters']} duplicate clusters; "
        f"data hash `{report['data_hash'][:16]}`",
        "- Stance labels: " + ", ".join(f"{k} {v}" for k, v in counts["stance"].items()),
        "- Frame labels: " + ", ".join(f"{k} {v}" for k, v in counts["frame"].items()),
        f"- Training time (cross-validation + final fit, 2 CPU cores): {report.get('train_seconds')} s",
        serving_precision(report.get("int8_check") or {}),
        "",
        INTENDED_USE,
        "## Results",
        "",
        f"95% intervals come from {report['bootstrap_samples']} bootstrap resamples of duplicate clusters. "
        "Baselines are trained on exactly the same training rows as the model in every row.",
        "",
    ]
    for name, evaluation in report["evaluations"].items():
        lines += [f"### {name}", "", f"{evaluation['description']} (n = {evaluation['n']}).", ""]
        for head in HEADS:
            lines += [f"**{head}**", "", *systems_table(evaluation, head), ""]
    main = report["evaluations"]["cross_validation"]
    lines += ["## Per-class F1 (cross-validation)", ""]
    for head in HEADS:
        lines += [f"**{head}**", "", *per_class_table(main, head), ""]
    lines += ["## Confusion matrices of the model (cross-validation)", ""]
    for head in HEADS:
        lines += [f"**{head}**", "", *confusion_table(main, head), ""]
    lines += [
        "## Calibration",
        "",
        "Temperature scaling per head, fitted on the out-of-fold logits of the grouped cross-validation "
        "(expected calibration error, 15 bins, top label). A prediction is flagged `low_confidence` when "
        "either head's top probability is below its threshold.",
        "",
        *calibration_lines(report),
        "",
    ]
    if experiments.is_file():
        lines += [experiments.read_text().rstrip(), ""]
    return "\n".join(lines)
