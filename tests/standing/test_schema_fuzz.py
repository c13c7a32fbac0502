"""Schema fuzzing with Schemathesis against the three services' own OpenAPI documents, on the real
processes (loopback), authenticated: the auth and transaction services with a customer's access token and
with the staff analyst's, the fraud service with the internal token.

Checked on every generated request, valid and invalid alike: no 5xx, the status code is one the document
declares, and the content type, headers and body match what it declares for that status. Besides: a request
the document does not allow is refused with a 4xx (a number where it says date-time or string, a value past
its maxLength...; 413, the body-size limit, counts as a refusal), a method the path does not serve gets 405
with an `Allow` listing exactly the methods it does, and a required header left out or the credentials left
off are refused. Not checked: that every request the document allows is accepted (positive_data_acceptance),
since rules across fields or over stored state (`from` after `to`, a cursor this API never issued, a
username already taken, an Idempotency-Key reused with another body) are answered 422 by design.

Bounded: FUZZ_MAX_EXAMPLES cases per operation and phase (default 25), a fixed seed (FUZZ_SEED, default 1;
change it to explore further, the report prints it), no stateful phase, one worker. Each run prints its
counts.

The fuzzing stack has the per-user rate limits off, so that the fuzzer reaches the operations instead of
429s (which are declared and would pass, but test nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from live import Live, start_live, stop_live

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,negative_data_rejection,unsupported_method,allow_header_conformance,"
          "missing_required_header,ignored_auth")
# Schemathesis' refusals, plus 413: a body over the services' size limit is refused before it is parsed.
CONFIG = """[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
"""
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "25")
SEED = os.environ.get("FUZZ_SEED", "1")
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"

# run id: (service, path of its OpenAPI document, who calls)
RUNS = {
    "auth as customer": ("auth", "/api/schema/", "customer"),
    "transactions as customer": ("transactions", "/openapi.json", "customer"),
    "transactions as staff": ("transactions", "/openapi.json", "staff"),
    "fraud with the internal token": ("fraud", "/openapi.json", "internal"),
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    live = start_live(tmp_path_factory.mktemp("fuzz"), "fuzz",
                      RATE_LIMIT_CAPTURES_PER_MINUTE="0", RATE_LIMIT_LISTINGS_PER_MINUTE="0")
    yield live
    stop_live(live)


@pytest.fixture(scope="module")
def headers(live: Live) -> dict[str, str]:
    return {"customer": f"Authorization: Bearer {live.new_customer()}",
            "staff": f"Authorization: Bearer {live.staff_token()}",
            "internal": f"X-Internal-Token: {live.stack.internal_token}"}


@pytest.mark.parametrize("run", RUNS)
def test_generated_requests_get_declared_answers_and_never_a_5xx(run, live, headers, tmp_path):
    service, document, caller = RUNS[run]
    report_path, config = tmp_path / "report.json", tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(config), "run", live.stack.url(service) + document,
         "--url", live.stack.url(service), "--header", headers[caller], "--checks", CHECKS,
         "--max-examples", MAX_EXAMPLES, "--seed", SEED,
         "--phases", "examples,coverage,fuzzing", "--workers", "1", "--request-timeout", "20",
         "--continue-on-failure", "--suppress-health-check", "too_slow,filter_too_much",
         "--report", "json", "--report-json-path", str(report_path), "--output-truncate", "false"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "NO_COLOR": "1"},
    )
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    cases, operations = report.get("test_cases", {}), report.get("operations", {})
    print(f"\n[fuzz] {run}: {operations.get('tested')} of {operations.get('total')} operations, "
          f"{cases.get('generated')} cases generated, {cases.get('unique_failures')} unique failures, "
          f"{len(report.get('errors', []))} errors, seed {report.get('seed')}, {report.get('running_time')}")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]
    assert operations.get("tested", 0) >= 1 and cases.get("generated", 0) > 0
