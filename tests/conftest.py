import itertools

import jax.random as jr
import pytest


@pytest.fixture
def getkey():
    """A function returning a fresh, deterministic PRNG key on each call."""
    counter = itertools.count()
    base = jr.key(0)
    return lambda: jr.fold_in(base, next(counter))
