"""ModelSync: a worker follows the model changes another worker publishes, whatever one of them costs."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from app.services.model_sync import ModelSync


def test_a_worker_keeps_following_after_a_change_it_failed_to_apply(tmp_path, caplog):
    # Before: an unexpected error in one reload ended the follow task silently; the worker never followed again.
    reloads = []

    def reload(*, announce: bool):
        reloads.append(announce)
        if len(reloads) == 1:
            raise RuntimeError("disk hiccup")

    follower = ModelSync(tmp_path, SimpleNamespace(reload=reload, champion_metadata_sha256=None))
    publisher = ModelSync(tmp_path, SimpleNamespace(champion_metadata_sha256=None))

    async def scenario() -> None:
        task = asyncio.create_task(follower.follow(0.01))
        for _ in range(2):
            published = len(reloads)
            publisher.publish("reload")
            deadline = time.monotonic() + 10
            while len(reloads) == published and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        assert not task.done(), task.exception()
        task.cancel()

    asyncio.run(scenario())
    assert reloads == [False, False]  # both changes followed, neither announced again
    assert "could not follow a model change" in caplog.text and "disk hiccup" in caplog.text
