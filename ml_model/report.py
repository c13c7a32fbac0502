"""Human-readable training report: a short summary, PNG plots and a markdown model card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "average_precision": "average precision",
    "card_precision_at_100": "card precision@100",
    "precision_at_threshold": "precision at threshold",
    "recall_at_threshold": "recall at threshold",
    "alert_rate": "alert rate",
}


def summary_lines(metadata: dict[str, Any]) -> list[str]:
    """The short report the CLI prints."""
    m = metadata["metrics"]
    data = metadata["data_summary"]
    periods = metadata["periods"]
    hybrid = "forest_evaluation" in m
    described = (f"{metadata['model_type']} (forest {metadata['hyper_parameters']}, classifier "
                 f"{metadata['classifier_hyper_parameters']['n_iter_']} trees on "
                 f"{metadata['classifier_training']['labelled']:,} labelled rows)") if hybrid \
        else f"IsolationForest {metadata['hyper_parameters']}"
    lines = [
        f"model {metadata['model_version']}: {described}",
        f"training {periods['train_from']}..{periods['train_to']}: {data['training']['transactions']:,} "
        f"transactions ({data['training']['frauds']:,} fraud)",
        f"evaluation {periods['eval_from']}..{periods['eval_to']}: {data['evaluation']['transactions']:,} "
        f"transactions ({data['evaluation']['labelled']:,} labelled, {data['evaluation']['frauds']:,} fraud)",
        f"threshold {metadata['threshold']:.4f} ({metadata['threshold_rule']})",
    ]
    evaluation = m["evaluation"]
    if "roc_auc" not in evaluation:
        lines.append("evaluation metrics could not be computed: the evaluation rows lack labels of both classes")
        if "alert_rate" in evaluation:
            lines.append(f"  alert rate at threshold: {evaluation['alert_rate']:.2%}")
        return lines
    columns = [("forest alone", m["forest_evaluation"])] if hybrid else []
    columns.append(("amount rule", m["amount_rule_evaluation"]))
    lines.append(f"{'metric (evaluation)':<26}{'model':>10}" + "".join(f"{name:>14}" for name, _ in columns))
    for key, label in METRIC_LABELS.items():
        if key in evaluation:
            others = "".join(f"{other[key]:>14.4f}" if key in other else f"{'-':>14}" for _, other in columns)
            lines.append(f"{label:<26}{evaluation[key]:>10.4f}{others}")
    return lines


def write_report(report_dir: Path | str, metadata: dict[str, Any], evaluation: pd.DataFrame,
                 examples: dict[str, list[tuple[float, str, float, list[str]]]] | None = None) -> list[Path]:
    """Plots (ROC, precision-recall, score distributions) and model_card.md into ``report_dir``;
    ``evaluation`` has ``score`` (the model's), ``anomaly_score`` (the forest's) and ``tx_fraud``
    (NaN = unlabelled) per evaluation row; a hybrid model's curves are drawn beside the forest's;
    ``examples``: the worked example's answers (``ml_model.reasons.worked_example``) per start time."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    written = []
    labels = evaluation["tx_fraud"].to_numpy(dtype=np.float64)
    labelled = ~np.isnan(labels)
    y = labels[labelled].astype(int)
    score = evaluation["score"].to_numpy()[labelled]
    curves = {_MODEL_NAMES.get(metadata.get("model_kind"), "model"): score}
    if "forest_evaluation" in metadata["metrics"]:
        curves["Isolation Forest alone"] = evaluation["anomaly_score"].to_numpy()[labelled]
    score_label = "fraud probability" if "forest_evaluation" in metadata["metrics"] else "anomaly score"
    if len(y) and y.min() != y.max():
        written += [_roc_plot(report_dir, y, curves), _pr_plot(report_dir, y, curves),
                    _distribution_plot(report_dir, y, score, metadata["threshold"], score_label)]
    card = report_dir / "model_card.md"
    card.write_text(_model_card(metadata, [p.name for p in written], examples or {}))
    return [*written, card]


_MODEL_NAMES = {"isolation_forest": "Isolation Forest", "hybrid": "hybrid (boosted trees + forest score)"}


def _roc_plot(folder: Path, y, curves: dict[str, np.ndarray]) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, score in curves.items():
        fpr, tpr, _ = roc_curve(y, score)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (evaluation period)")
    ax.legend(loc="lower right")
    return _save(fig, folder / "roc_curve.png")


def _pr_plot(folder: Path, y, curves: dict[str, np.ndarray]) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, score in curves.items():
        precision, recall, _ = precision_recall_curve(y, score)
        ax.plot(recall, precision, label=name)
    ax.axhline(y.mean(), linestyle="--", color="grey", label=f"fraud rate {y.mean():.2%}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (evaluation period)")
    ax.legend(loc="upper right")  # "best" scans every curve point: slow on a million rows
    return _save(fig, folder / "precision_recall_curve.png")


def _distribution_plot(folder: Path, y, score, threshold: float, score_label: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(score.min(), score.max(), 60)
    ax.hist(score[y == 0], bins=bins, density=True, alpha=0.6, label="legitimate")
    ax.hist(score[y == 1], bins=bins, density=True, alpha=0.6, label="fraud")
    ax.axvline(threshold, color="black", linestyle="--", label="threshold")
    ax.set(xlabel=score_label, ylabel="density", title="Score distribution by class")
    ax.legend()
    return _save(fig, folder / "score_distribution.png")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _explanation_lines(examples: dict[str, list[tuple[float, str, float, list[str]]]]) -> list[str]:
    lines = [
        "## Explanations",
        "",
        "Every decision carries each model feature's contribution to its score, by the Saabas path "
        "attribution for tree ensembles (`ml_model/attribution.py`; shap's `TreeExplainer` with "
        "`approximate=True`; for a hybrid model, of its classifier, the anomaly score's share spread over "
        "the features by the forest's), and up to three reasons: the groups of features that pushed the "
        "score up most, in analyst words (`ml_model/reasons.py`). An approved payment under the review band "
        "(risk 0.23) reads \"no risk factor stands out\". Worked example, a new customer's purchases a few "
        "seconds apart (as `example_usage.py` submits them):",
        "",
        "| start (UTC) | amount (EUR) | decision | risk | reasons |",
        "|---|---|---|---|---|",
    ]
    for start, answers in examples.items():
        for amount, decision, risk, reasons in answers:
            lines.append(f"| {start} | {amount:,.2f} | {decision} | {risk:.2f} | {'; '.join(reasons)} |")
    return [*lines, ""]


def _model_card(metadata: dict[str, Any], plots: list[str],
                examples: dict[str, list[tuple[float, str, float, list[str]]]]) -> str:
    behaviour = ("behavioural features of a payment (amount against the customer's own habits, short "
                 f"bursts, terminal fraud rates from labels at least {metadata['label_delay_days']} days old, "
                 "time of day)")
    summary = (f"Gradient-boosted trees (HistGradientBoostingClassifier) learnt from labelled transactions over "
               f"{behaviour} plus an Isolation Forest's anomaly score. Score = fraud probability."
               if "forest_evaluation" in metadata["metrics"]
               else f"Unsupervised Isolation Forest over {behaviour}. Higher anomaly score = riskier.")
    lines = [
        f"# Model card — {metadata['model_version']}",
        "",
        summary,
        "",
        f"- Created: {metadata['created_at']}",
        f"- Features: {', '.join(metadata['feature_columns'])}",
        f"- Hyper-parameters: {metadata['hyper_parameters']} (chosen on validation from "
        f"{metadata['periods']['validation_from']})",
        f"- Library versions: {metadata['library_versions']}",
        "",
        "## Results",
        "",
        "```",
        *summary_lines(metadata),
        "```",
        "",
        *(_explanation_lines(examples) if examples else []),
        "## Limits",
        "",
        "- Trained on the data described above; fraud patterns absent from it are only caught when "
        "they make a transaction unusual for its customer or terminal.",
        "- A terminal's fraud rate only reflects labels that reached the fraud service.",
        "",
        *[f"![{p}]({p})" for p in plots],
        "",
    ]
    return "\n".join(lines)
