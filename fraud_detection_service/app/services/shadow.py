"""The challenger in shadow: every prediction's features are also scored by the challenger, and its
decision, risk score and version are stored beside the champion's answer (``SHADOW_COLUMNS`` of
app/services/profile_store.py). Never returned and never the decision: it only feeds the comparison
(app/services/comparison.py) that tells whether promoting it would be better.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.metrics import SHADOW_DECISIONS
from app.services.risk_engine import RiskEngine


def shadow_answer(challenger: RiskEngine | None, features: dict[str, float]) -> dict[str, Any]:
    """The challenger's columns for the stored row; empty without a challenger."""
    if challenger is None:
        return {}
    decision, risk = challenger.decide_one(features)
    return {"challenger_decision": decision, "challenger_risk_score": risk,
            "challenger_model_version": challenger.model_version}


def shadow_answers(challenger: RiskEngine | None, features: np.ndarray) -> list[dict[str, Any]]:
    """``shadow_answer`` of every row of ``features`` (every feature, ``FEATURE_COLUMNS`` order), scored
    together (/predict/batch)."""
    if challenger is None:
        return [{} for _ in features]
    decisions, risks = challenger.decide_many(features)
    return [{"challenger_decision": decision, "challenger_risk_score": risk,
             "challenger_model_version": challenger.model_version} for decision, risk in zip(decisions, risks,
                                                                                              strict=True)]


def count(shadow: dict[str, Any], champion_decision: str) -> None:
    if shadow:
        decision = shadow["challenger_decision"]
        SHADOW_DECISIONS.labels(decision, str(decision != champion_decision).lower()).inc()
