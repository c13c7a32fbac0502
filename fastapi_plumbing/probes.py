"""/health, /ready and /metrics, with the same bodies in both services.

/health: `{"status": "ok"}` while the process answers (it depends on nothing). /ready: 200
`{"status": "ready", <check>: "ok", ...}` when every readiness check passes, else a 503 problem
(`code` "not_ready") naming the failed checks, with the same members.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fastapi_plumbing.problems import problem_response

# name -> (check of the running app, word for its failure), e.g. "database" -> (..., "unreachable")
ReadinessChecks = Mapping[str, tuple[Callable[[Request], bool], str]]


def probes_router(checks: ReadinessChecks) -> APIRouter:
    router = APIRouter(tags=["probes"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", responses={503: {"description": "Not ready: the failed checks are named"}})
    def ready(request: Request) -> JSONResponse:
        # A plain def: a database check may block, so it runs in the threadpool, never on the loop.
        results = {name: "ok" if check(request) else failure for name, (check, failure) in checks.items()}
        failed = [f"{name} {word}" for name, word in results.items() if word != "ok"]
        if failed:
            return problem_response(503, f"Not ready: {', '.join(failed)}.", request.url.path, code="not_ready",
                                    **results)
        return JSONResponse({"status": "ready", **results})

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
