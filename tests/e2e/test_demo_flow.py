"""The README's promise, end to end: the walk-through of example_usage.py against real processes."""

import subprocess
import sys

from e2e_support import ROOT, STAFF


def test_example_usage_shows_approved_and_blocked_decisions_with_reasons(stack):
    result = subprocess.run(
        [sys.executable, str(ROOT / "example_usage.py"),
         "--auth-url", stack.url("auth"), "--transaction-url", stack.url("transactions"),
         "--staff-username", STAFF[0], "--staff-password", STAFF[1]],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "APPROVED" in result.stdout and "BLOCKED" in result.stdout
    assert "labelled" in result.stdout  # the staff step ran, it was not skipped
    # Staff read why: the four ordinary purchases accuse nothing, the blocked one names its amount once
    # (example_usage.py fails otherwise), with the contributions behind it. An ordinary one in the review band
    # (a brand-new customer's at night reaches it on the default model) says why instead.
    in_band = result.stdout.count(", in the review band)")
    assert result.stdout.count("- no risk factor stands out") == 4 - in_band, result.stdout
    assert result.stdout.count("- amount 9,850.00 EUR is") == 1, result.stdout
    assert "largest contributions: " in result.stdout


def test_smoke_test_script_passes_against_the_running_stack(stack):
    result = subprocess.run(
        [str(ROOT / "scripts" / "test_services.sh"), "--auth-url", stack.url("auth"),
         "--transaction-url", stack.url("transactions"), "--fraud-url", stack.url("fraud")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
