"""Crossings in program order when a program spans several processes (`_order.py`).

The two-process test (`tests/multidevice/test_multihost.py`) shows the failure this
prevents, but only about one run in ten. These tests check the cause directly and
every time: in the traced program, every crossing (every `cond`, `while`, ... that
holds a host call) depends on the crossing before it at its level, so XLA cannot
start their collectives in different orders on different processes.
"""

from __future__ import annotations

import io
import sqlite3

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax import host
from lerax.algorithm import PPO
from lerax.algorithm._programs import compiled_learn
from lerax.callback import (
    EvalCallback,
    LoggingCallback,
    ProgressBarCallback,
    SaveCheckpoints,
    SQLiteBackend,
)
from lerax.callback._list import as_callback
from lerax.env import CartPole
from lerax.host import _order
from lerax.policy import MLPActorCriticPolicy

ENV = CartPole()
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))
HOST_CALLS = {"lerax_python_call", "io_callback"}


def _callbacks(root):
    return [
        LoggingCallback(SQLiteBackend(f"{root}/runs.db"), name="order"),
        ProgressBarCallback(stream=io.StringIO()),
        EvalCallback(ENV, every=2, num_episodes=2),
        SaveCheckpoints("order", frequency=2, root=str(root)),
    ]


def _sub_jaxprs(eqn):
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, jax.extend.core.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jax.extend.core.Jaxpr):
                yield item


def _crosses(eqn) -> bool:
    return eqn.primitive.name in HOST_CALLS or any(
        _crosses(inner) for sub in _sub_jaxprs(eqn) for inner in sub.eqns
    )


def crossings_by_level(jaxpr, where="program", out=None) -> dict[str, list]:
    """For this level and every nested one: its crossings, in program order, each
    with the earlier crossings of its level that it does NOT depend on."""
    out = {} if out is None else out
    depends, found = {}, []
    for i, eqn in enumerate(jaxpr.eqns):
        inputs = set()
        for var in eqn.invars:
            if isinstance(var, jax.extend.core.Var):
                inputs |= depends.get(var, set())
        if _crosses(eqn):
            name = f"{eqn.primitive.name}#{i}"
            found.append((name, [earlier for earlier, _ in found if earlier not in inputs]))
            inputs = inputs | {name}
        for var in eqn.outvars:
            depends[var] = inputs
        for sub in _sub_jaxprs(eqn):
            crossings_by_level(sub, f"{where}/{eqn.primitive.name}#{i}", out)
    if found:
        out[where] = found
    return out


def unordered(levels: dict[str, list]) -> list[str]:
    return [
        f"{where}: {earlier} and {name}"
        for where, found in levels.items()
        for name, missing in found
        for earlier in missing
    ]


def _program(algo, root, num_seeds):
    """The jaxpr of `learn`'s program for `num_seeds` vmapped seeds (traced only)."""
    callbacks = as_callback(_callbacks(root))
    total = 6 * algo.steps_per_iteration

    def learn(key):
        return compiled_learn(
            algo, ENV, POLICY, total, key, callbacks, None, jnp.asarray(1, jnp.int32), True
        )

    return jax.make_jaxpr(jax.vmap(learn))(jr.split(jr.key(1), num_seeds)).jaxpr


def test_across_processes_every_crossing_waits_for_the_one_before(tmp_path, monkeypatch):
    # A configuration of its own: the trace is not shared with other tests' programs.
    algo = PPO(num_envs=2, num_steps=12, num_epochs=1, num_minibatches=1)
    monkeypatch.setattr(_order, "_spans_processes", lambda: True)
    levels = crossings_by_level(_program(algo, tmp_path, num_seeds=2))
    # The checked levels are those where the callbacks cross: the program's top level
    # (training start and end, the loop, the run's end) and the loop's body (the four
    # callbacks and the Ctrl-C control).
    (top,) = [found for found in levels.values() if any("while" in n for n, _ in found)]
    (body,) = [found for where, found in levels.items() if where.split("/")[-1][:5] == "while"]
    assert len(top) >= 4 and len(body) >= 5, (top, body)
    assert unordered(levels) == []


def test_in_one_process_crossings_are_left_unordered(tmp_path):
    """Without several processes nothing is added, and the crossings of independent
    callbacks are indeed unordered (which is what the test above would catch)."""
    algo = PPO(num_envs=2, num_steps=10, num_epochs=1, num_minibatches=1)
    assert not _order._spans_processes()
    program = _program(algo, tmp_path, num_seeds=2)
    assert unordered(crossings_by_level(program))


def test_ordered_and_unordered_programs_compute_the_same(tmp_path, monkeypatch):
    algo = PPO(num_envs=2, num_steps=14, num_epochs=1, num_minibatches=1)
    total = 6 * algo.steps_per_iteration
    keys = jr.split(jr.key(2), 2)

    def run(name):
        (tmp_path / name).mkdir()
        callbacks = _callbacks(tmp_path / name)
        policy = jax.vmap(lambda k: algo.learn(ENV, POLICY, total, key=k, callback=callbacks))(keys)
        with sqlite3.connect(tmp_path / name / "runs.db") as db:
            rows = db.execute(
                "SELECT runs.name, events.step, events.scalars FROM events "
                "JOIN runs ON runs.id = events.run_id ORDER BY runs.name, events.step"
            ).fetchall()
        return policy, rows

    plain, plain_rows = run("plain")
    monkeypatch.setattr(_order, "_spans_processes", lambda: True)
    ordered, ordered_rows = run("ordered")
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(ordered), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(plain_rows) == 2 * 6 + 6  # two seeds and the aggregate, six iterations
    assert [r[:2] for r in ordered_rows] == [r[:2] for r in plain_rows]
    assert host.open_runs() == []


@pytest.mark.parametrize("enabled", [False, True])
def test_mark_and_after_previous_chain_only_when_enabled(enabled):
    def program(x):
        with host.crossing_order(enabled):
            a = x + 1.0
            host.mark(a)
            y = host.after_previous(x * 2.0)
            return a, y

    text = str(jax.make_jaxpr(program)(jnp.ones(3)))
    assert ("optimization_barrier" in text) is enabled
