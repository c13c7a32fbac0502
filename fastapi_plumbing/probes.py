"""/health, /ready and /metrics, with the same bodies in both services.

/health: `{"status": "ok"}` while the process answers (it depends on nothing). /ready: 200
`{"status": "ready", <check>: "ok", ...}` when every readiness check passes, else a 503 problem
(`code` "not_ready") naming the failed checks, with the same members.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from fastapi_plumbing.metrics import exposition
from fastapi_plumbing.problems import problem_response

# name -> (check of the running app, word for its failure), e.g. "database" -> (..., "unreachable")
ReadinessChecks = Mapping[str, tuple[Callable[[Request], bool], str]]


def probes_router(checks: ReadinessChecks, per_process_metrics: Iterable[Collector] = ()) -> APIRouter:
    """``per_process_metrics``: collectors answered by the worker that serves /metrics, not summed over
    workers (fastapi_plumbing/metrics.py)."""
    per_process = tuple(per_process_metrics)
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
        return Response(exposition(per_process), media_type=CONTENT_TYPE_LATEST)

    return router
