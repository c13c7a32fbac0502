"""The analyst console in a real browser (Playwright driving the machine's Chromium) against the three
services as processes: log in, review, label, release, refresh, and nothing a customer or a hostile
terminal id can do about it. Screenshots of every screen go to CONSOLE_ARTIFACTS (default
test-artifacts/console/)."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from e2e_support import ROOT, STAFF, Customer
from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("CONSOLE_ARTIFACTS") or ROOT / "test-artifacts" / "console")
XSS_TERMINAL = "<img/src=x/onerror=alert(1)>"  # no spaces: identifiers refuse whitespace


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Staff:
    def __init__(self, stack):
        self.base = stack.url("transactions")
        answer = httpx.post(f"{stack.url('auth')}/api/auth/login/", json={"username": STAFF[0], "password": STAFF[1]})
        assert answer.status_code == 200, answer.text
        self.headers = {"Authorization": f"Bearer {answer.json()['access']}"}

    def capture(self, customer_id: str, terminal_id: str, amount: str, when: datetime | None = None) -> dict:
        body = {"amount": amount, "currency": "EUR", "terminal_id": terminal_id, "customer_id": customer_id}
        if when is not None:
            body["timestamp"] = when.isoformat()
        answer = httpx.post(f"{self.base}/transactions", json=body, headers=self.headers, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()


def test_analyst_reviews_labels_and_releases_in_the_browser(stack, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    staff = Staff(stack)
    # Every payment of this terminal at noon: the model reads the hour of day, and an ordinary 35.00 at 22:00
    # UTC lands in the review band, which would put a second row in the terminal's queue.
    noon = (datetime.now(UTC) - timedelta(hours=12)).replace(hour=12, minute=0, second=0, microsecond=0)
    tag = secrets.token_hex(3)
    terminal = f"T-E2E-{tag}"
    customer = Customer(stack)  # also the non-staff account that must be refused
    customer_id = str(httpx.get(f"{stack.url('auth')}/api/auth/me/", headers=customer.headers).json()["id"])
    # The customer's habits, then a payment far above them: back-dated 9 days, so that its label is old
    # enough (the model's 7-day label delay) to count in the terminal's fraud rate on the next prediction.
    for days, amount in ((13, "24.90"), (12, "31.50"), (11, "18.75")):
        staff.capture(customer_id, terminal, amount, noon - timedelta(days=days))
    blocked = staff.capture(customer_id, terminal, "9850.00", noon - timedelta(days=9))
    assert blocked["status"] == "BLOCKED", blocked
    to_release = staff.capture(f"cust-release-{tag}", f"T-REL-{tag}", "9400.00")
    probe = staff.capture(f"cust-xss-{tag}", XSS_TERMINAL, "9700.00")
    assert to_release["status"] == probe["status"] == "BLOCKED"
    risk_before = staff.capture(f"cust-next-{tag}", terminal, "35.00", noon)["risk_score"]

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    console_url = f"{stack.url('transactions')}/console/"

    # A customer account is refused with a page that says why.
    page.goto(console_url)
    page.fill("#username", customer.username)
    page.fill("#password", customer.password)
    page.click("#login-form button")
    page.wait_for_selector("#refused-view:not([hidden])")
    assert "not a staff account" in page.inner_text("#refused-message")
    page.screenshot(path=ARTIFACTS / "refused.png")
    assert httpx.get(f"{stack.url('transactions')}/staff/queue", headers=customer.headers).status_code == 403

    # Staff log in and see the queue, the hostile terminal id as plain text.
    page.click("#refused-back")
    page.fill("#username", STAFF[0])
    page.fill("#password", STAFF[1])
    page.click("#login-form button")
    page.wait_for_selector("#queue tbody tr[data-id]")
    assert page.locator(f'#queue tr[data-id="{probe["id"]}"] td.terminal').inner_text() == XSS_TERMINAL
    assert page.locator("#queue img").count() == 0
    page.screenshot(path=ARTIFACTS / "queue.png", full_page=True)

    # Find the blocked payment by its terminal, open it: reasons and the customer's history.
    page.fill("#filter-terminal_id", terminal)
    page.click("#queue-filters button[type=submit]")
    expect(page.locator("#queue tbody tr[data-id]")).to_have_count(1)  # the filtered page replaced the first
    expect(page.locator(f'#queue tr[data-id="{blocked["id"]}"]')).to_be_visible()
    page.click(f'#queue tr[data-id="{blocked["id"]}"]')
    page.wait_for_selector("#detail")
    assert page.locator("#reasons li").count() >= 1
    assert page.locator("#customer-history tbody tr").count() == 4
    assert blocked["id"] in page.inner_text("#detail")
    page.screenshot(path=ARTIFACTS / "detail.png", full_page=True)

    page.click("#label-fraud")
    page.wait_for_selector("#audit tbody tr >> text=label")
    audit = page.inner_text("#audit tbody")
    assert STAFF[0] in audit and "none" in audit and "fraud" in audit
    assert "delivered" in page.inner_text("#action-message")
    page.screenshot(path=ARTIFACTS / "detail-labelled.png", full_page=True)
    # The fraud service has the label: the terminal's next payment is riskier than the same one before.
    risk_after = staff.capture(f"cust-next2-{tag}", terminal, "35.00", noon)["risk_score"]
    assert risk_after > risk_before, (risk_before, risk_after)

    # Release another blocked payment: APPROVED by analyst, the model's decision still shown.
    page.goto(f"{console_url}#/tx/{to_release['id']}")
    page.wait_for_selector("#release")
    page.click("#release")
    page.wait_for_selector("#audit tbody tr >> text=release")
    facts = page.inner_text("#detail dl")
    assert "APPROVED" in facts and "analyst" in facts and "BLOCKED by model" in facts
    page.screenshot(path=ARTIFACTS / "released.png", full_page=True)

    # An access token that no longer works is refreshed without losing the place...
    page.goto(f"{console_url}#/overview")
    page.wait_for_selector("#overview")
    page.evaluate("sessionStorage.setItem('console.access', 'expired.access.token')")
    page.goto(f"{console_url}#/what-if")
    page.wait_for_selector("#what-if-table")
    assert page.evaluate("sessionStorage.getItem('console.access')") != "expired.access.token"
    assert page.url.endswith("#/what-if")
    current = page.locator('#what-if-table tr[data-threshold="0.5"]')
    assert "current block threshold" in current.inner_text()
    assert page.locator("#what-if-chart polyline").count() >= 1
    page.screenshot(path=ARTIFACTS / "what-if.png", full_page=True)
    # ...and when the refresh fails too, the login form comes back, then the same place after logging in.
    page.evaluate("sessionStorage.setItem('console.access', 'x'); sessionStorage.setItem('console.refresh', 'y')")
    page.goto(f"{console_url}#/overview")
    page.wait_for_selector("#login-view:not([hidden])")
    page.fill("#username", STAFF[0])
    page.fill("#password", STAFF[1])
    page.click("#login-form button")
    page.wait_for_selector("#overview")
    assert page.url.endswith("#/overview")
    page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)

    page.goto(f"{console_url}#/model")
    page.wait_for_selector("#model-version")
    # Polled from here: wait_for_function evaluates a string in the page, which the console's CSP forbids.
    plots = page.locator("#plots img")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (
            plots.count() == 3 and all(plots.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
                                       for i in range(3))):
        time.sleep(0.2)
    assert plots.count() == 3 and all(plots.nth(i).evaluate("img => img.naturalWidth") > 0 for i in range(3))
    page.screenshot(path=ARTIFACTS / "model.png", full_page=True)

    assert dialogs == []  # the XSS probe never ran
    for name in ("refused", "queue", "detail", "detail-labelled", "released", "what-if", "overview", "model"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 0
