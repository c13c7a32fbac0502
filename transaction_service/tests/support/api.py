"""A small HTTP client for the running service that signs real tokens for the users it acts as."""

from __future__ import annotations

import httpx

from tests.support.tokens import SigningKey, claims_for


class Api:
    def __init__(self, base_url: str, key: SigningKey) -> None:
        self.base_url = base_url
        self.key = key
        self._http = httpx.Client(base_url=base_url, timeout=15)

    def token(self, user_id: int, *, staff: bool = False, **claims) -> str:
        return self.key.sign(claims_for(user_id, is_staff=staff, **claims))

    def request(self, method: str, path: str, *, user: int | None = 1, staff: bool = False,
                token: str | None = None, headers: dict | None = None, **kwargs) -> httpx.Response:
        headers = dict(headers or {})
        if token is None and user is not None:
            token = self.token(user, staff=staff)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self._http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def create(self, amount="42.50", *, user: int = 1, headers: dict | None = None, **fields) -> httpx.Response:
        body = {"amount": amount, "currency": "EUR", "terminal_id": "T-100", **fields}
        return self.post("/transactions", json=body, user=user, headers=headers)

    def staff_view(self, transaction_id: str) -> dict:
        """The transaction as staff see it (score, reasons, model version, decided_by)."""
        response = self.get(f"/transactions/{transaction_id}", user=1000, staff=True)
        assert response.status_code == 200, response.text
        return response.json()
