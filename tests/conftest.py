import itertools

import jax.random as jr
import pytest


@pytest.fixture
def getkey():
    """A function returning a fresh, deterministic PRNG key on each call."""
    counter = itertools.count()
    base = jr.key(0)
    return lambda: jr.fold_in(base, next(counter))


def pytest_configure(config):
    """Keep W&B and Comet offline and quiet in every test (no network, no telemetry)."""
    import os

    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
