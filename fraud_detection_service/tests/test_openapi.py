"""The OpenAPI document is the service's contract for its callers (README): what an operation says is what it
does for a caller, never notes on the code behind it, and a client generated from it keeps its method names."""

from __future__ import annotations

import re

import httpx
import pytest

# Every operation's id as the service has always published it: a generated client's method names come from
# these, so a change of one is a breaking change for that client.
OPERATION_IDS = {
    ("post", "/predict"): "predict_one_predict_post",
    ("post", "/predict/batch"): "predict_batch_predict_batch_post",
    ("post", "/feedback"): "feedback_feedback_post",
    ("get", "/model"): "model_info_model_get",
    ("post", "/model/reload"): "reload_models_model_reload_post",
    ("post", "/model/promote"): "promote_challenger_model_promote_post",
    ("get", "/model/comparison"): "comparison_model_comparison_get",
    ("get", "/model-card"): "model_card_model_card_get",
    ("get", "/model-card/plots/{plot}"): "model_plot_model_card_plots__plot__get",
    ("get", "/health"): "health_health_get",
    ("get", "/ready"): "ready_ready_get",
}
# What notes written for the code's maintainers look like: a private Python name (`_batch_answer`), reST
# literals, the framework's or the route class's internals.
ENGINEER_NOTES = re.compile(r"(?<![A-Za-z0-9])_[A-Za-z]\w*|``|FastAPI|lean (route|path)|own path|threadpool",
                            re.IGNORECASE)


@pytest.fixture(scope="module")
def document(service) -> dict:
    response = httpx.get(f"{service.url}/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()


def test_every_operation_keeps_its_operation_id(document):
    published = {(method, path): operation["operationId"]
                 for path, operations in document["paths"].items() for method, operation in operations.items()}
    assert published == OPERATION_IDS


def test_no_operation_describes_the_code_instead_of_the_endpoint(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for field in ("summary", "description"):
                text = operation.get(field) or ""
                assert not ENGINEER_NOTES.search(text), (method, path, field, text)


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_the_scoring_operations_state_their_contract(document, path):
    operation = document["paths"][path]["post"]
    assert operation["summary"].startswith("Score")
    description = operation["description"]
    # A known id answers its first answer; an id labelled through /feedback without a decision is refused.
    assert "first answer" in description
    assert "409" in description and "recorded_without_decision" in description and "/feedback" in description
    assert "X-Internal-Token" in description


def test_the_batch_states_the_size_limit_its_schema_enforces(document):
    batch = document["components"]["schemas"]["BatchIn"]["properties"]["transactions"]
    description = document["paths"]["/predict/batch"]["post"]["description"]
    assert f"1 to {batch['maxItems']} transactions" in description
    assert batch["minItems"] == 1
    assert "in that order" in description


PUBLIC = {("get", "/health"), ("get", "/ready")}


def test_every_internal_operation_declares_the_header_and_its_401(document, service):
    """A client generated from the document sends X-Internal-Token: it is the document's security scheme, and
    every operation but the probes requires it and lists the 401 it answers without it."""
    scheme = document["components"]["securitySchemes"]["InternalToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Internal-Token")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) in PUBLIC:
                assert "security" not in operation and "401" not in operation["responses"], (method, path)
                continue
            assert operation["security"] == [{"InternalToken": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
            assert "X-Internal-Token" in operation["description"], (method, path)
    # What the document says is what the service does: the scheme's header is the one it checks.
    assert httpx.get(f"{service.url}/model", timeout=30).status_code == 401
    answer = httpx.get(f"{service.url}/model", headers={scheme["name"]: service.token}, timeout=30)
    assert answer.status_code == 200


def test_every_internal_operation_says_what_it_does(document):
    """A summary written for callers, not the function's name that FastAPI title-cases into one ("Model Info"),
    and a description."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) in PUBLIC:
                continue
            assert operation["summary"] != operation["summary"].title(), (method, path, operation["summary"])
            assert len(operation["description"]) > 80, (method, path)
