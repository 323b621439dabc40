"""Writer threads start at a lower scheduling priority than training (Linux)."""

from __future__ import annotations

import os
import sys
import threading

import jax.random as jr
import pytest

from lerax.algorithm import PPO
from lerax.callback.logging import AbstractLoggingBackend, LoggingCallback
from lerax.env import CartPole
from lerax.host import BackgroundWorker, _priority
from lerax.policy import MLPActorCriticPolicy

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's"
)


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_only_the_calling_thread_is_lowered():
    main = _niceness()
    seen = {}

    def body():
        seen["before"] = _niceness()
        seen["returned"] = _priority.lower_this_thread()
        seen["after"] = _niceness()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    expected = min(main + _priority.WRITER_NICENESS, 19)
    assert seen == {"before": main, "returned": expected, "after": expected}
    assert _niceness() == main, "the main thread keeps its priority"


def test_zero_niceness_leaves_threads_alone(monkeypatch):
    monkeypatch.setattr(_priority, "WRITER_NICENESS", 0)
    seen = []
    thread = threading.Thread(
        target=lambda: seen.append((_priority.lower_this_thread(), _niceness()))
    )
    thread.start()
    thread.join()
    assert seen == [(None, _niceness())]


def test_background_workers_run_lowered():
    main = _niceness()
    worker = BackgroundWorker("test-priority")
    seen = []
    worker.submit(lambda: seen.append(_niceness()))
    worker.drain()
    assert worker.close(timeout=10)
    assert seen == [min(main + _priority.WRITER_NICENESS, 19)]


class _NicenessBackend(AbstractLoggingBackend):
    """Records the niceness of the thread each call runs on."""

    seen: list = []

    def open(self, name, *, metadata=None):
        pass

    def log_hparams(self, hparams):
        pass

    def log_scalars(self, scalars, step):
        type(self).seen.append(_niceness())

    def log_video(self, tag, frames, step, fps):
        pass

    def close(self):
        pass


def test_logging_backends_write_lowered_while_training_keeps_its_priority():
    main = _niceness()
    env = CartPole()
    algo = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    _NicenessBackend.seen = []
    algo.learn(env, policy, 2 * 16 * 3, key=jr.key(1), callback=LoggingCallback(_NicenessBackend()))
    assert len(_NicenessBackend.seen) == 3, "one scalars call per iteration"
    assert set(_NicenessBackend.seen) == {min(main + _priority.WRITER_NICENESS, 19)}
    assert _niceness() == main
