"""Diagnostic: what one host crossing costs inside the PPO iteration body.

Runs 64 PPO iterations (`lerax.algorithm._loop.one_iteration`) in a jitted `fori_loop` with no
io_callback ("none"), one io_callback after the loop ("outside"), or one per
iteration ("end": depends on the iteration's result; "indep": depends only on the
loop index). See benchmarks/README.md (logging overhead) for what it showed.

    python benchmarks/crossing_cost.py

(JAX 0.10.2 ignores `--xla_cpu_use_thunk_runtime`; what a crossing costs is explained
in benchmarks/README.md, "Logging overhead".)
"""

import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.experimental import io_callback

from lerax.algorithm import PPO
from lerax.algorithm._loop import one_iteration
from lerax.callback import as_callback
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

env = CartPole()
policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
algo = PPO()
cb = as_callback(None)
state = algo.init(env, policy, 2**17, key=jr.key(1))


def recv(x):
    return np.int32(0)


def make(mode):
    def f(s):
        def body(i, s):
            s = one_iteration(algo, s, cb, 0)
            if mode == "end":
                a = io_callback(
                    recv, jax.ShapeDtypeStruct((), jnp.int32), s.num_timesteps, ordered=False
                )
                s = s.__class__(**{**s.__dict__, "num_timesteps": s.num_timesteps + a})
            if mode == "indep":
                io_callback(recv, jax.ShapeDtypeStruct((), jnp.int32), i, ordered=False)
            return s

        out = jax.lax.fori_loop(0, 64, body, s)
        if mode == "outside":
            io_callback(recv, jax.ShapeDtypeStruct((), jnp.int32), out.num_timesteps, ordered=False)
        from lerax.algorithm import trainable

        return sum(x.sum() for x in jax.tree.leaves(trainable(out.policy))) + out.num_timesteps

    return jax.jit(f)


for mode in ("none", "outside", "end", "indep", "none", "outside", "end"):
    g = make(mode)
    g(state).block_until_ready()
    ts = []
    for _ in range(4):
        t = time.perf_counter()
        g(state).block_until_ready()
        ts.append(time.perf_counter() - t)
    print(mode, round(np.median(ts) * 1e3, 1), "ms per 64 iterations")
