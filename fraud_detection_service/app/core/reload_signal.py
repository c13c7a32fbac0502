"""SIGHUP reloads the models (``kill -HUP <pid>``), like the internal ``POST /model/reload``.

The reload runs in the threadpool (verifying and unpickling take a fraction of a second) while the
event loop keeps serving; a refused model is logged and the serving one stays (app/services/model_slots.py).
With ``WORKERS`` > 1, signal any one worker: like the endpoint, its reload reaches the others
(app/services/model_sync.py). The uvicorn supervisor answers SIGHUP by restarting its workers one by one,
which load the folders at start-up.
"""

from __future__ import annotations

import asyncio
import signal

from starlette.concurrency import run_in_threadpool

from app.services.model_slots import ModelRefused, ModelSlots

_pending: set[asyncio.Task] = set()  # a task nobody references can be collected before it runs


def reload_on_hangup(slots: ModelSlots) -> None:
    loop = asyncio.get_running_loop()

    async def reload() -> None:
        try:
            await run_in_threadpool(slots.reload)
        except ModelRefused:
            pass  # logged by ModelSlots with the reason; the serving models stay

    def on_signal() -> None:
        task = loop.create_task(reload())
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_signal)


def stop_reloading_on_hangup() -> None:
    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
