"""The throughput ceiling: a FastAPI app that does nothing but parse a JSON body and answer.

Served by uvicorn with the transaction service's worker/loop/http settings (see ``serve_trivial`` in
scripts/bench/processes.py), it measures what one process of this framework and server can do on this
machine, which is the reference the capture throughput is compared with.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.post("/transactions", status_code=201)
async def capture(body: dict) -> dict:
    return {"status": "APPROVED", "terminal_id": body.get("terminal_id")}


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}
