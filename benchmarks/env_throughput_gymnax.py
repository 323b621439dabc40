"""Random-action rollouts on gymnax's CartPole-v1 for env-throughput comparisons.

``gymnax_cartpole_rollout(num_envs, num_steps)`` returns a jitted ``fn(key)`` that runs
``num_envs`` independent environments for ``num_steps`` steps each (``jax.vmap`` over a
per-env ``lax.scan``; gymnax's ``step`` auto-resets on ``done``) with uniformly random
actions, and returns ``(total_reward, num_episodes_finished)`` as scalars, so the
caller can ``jax.block_until_ready`` a tiny output. ``builtin_cartpole_rollout`` is the
same loop on the pure-JAX CartPole from ``purejaxrl_ppo.py``.

    python benchmarks/env_throughput_gymnax.py [--num-envs 1 4 64 1024] [--num-steps 1000]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _rollout(env_reset, env_step, num_envs: int, num_steps: int):
    def one_env(key):
        k_reset, key = jax.random.split(key)
        _, state = env_reset(k_reset)

        def step(carry, _):
            state, ret, eps, key = carry
            key, k_act, k_env = jax.random.split(key, 3)
            action = jax.random.randint(k_act, (), 0, 2)
            _, state, reward, done = env_step(k_env, state, action)
            return (state, ret + reward, eps + done.astype(jnp.int32), key), None

        init = (state, jnp.zeros(()), jnp.zeros((), jnp.int32), key)
        (_, ret, eps, _), _ = jax.lax.scan(step, init, None, num_steps)
        return ret, eps

    def rollout(key):
        ret, eps = jax.vmap(one_env)(jax.random.split(key, num_envs))
        return ret.sum(), eps.sum()

    return rollout


def gymnax_cartpole_rollout(num_envs: int, num_steps: int, jit: bool = True):
    """Jitted ``fn(key) -> (total_reward, episodes_finished)`` on gymnax CartPole-v1."""
    import gymnax

    env, params = gymnax.make("CartPole-v1")

    def env_reset(key):
        return env.reset(key, params)

    def env_step(key, state, action):
        obs, state, reward, done, _ = env.step(key, state, action, params)
        return obs, state, reward, done

    fn = _rollout(env_reset, env_step, num_envs, num_steps)
    return jax.jit(fn) if jit else fn


def builtin_cartpole_rollout(num_envs: int, num_steps: int, jit: bool = True):
    """Same as ``gymnax_cartpole_rollout`` on ``purejaxrl_ppo``'s pure-JAX CartPole."""
    import purejaxrl_ppo

    fn = _rollout(purejaxrl_ppo.cartpole_reset, purejaxrl_ppo.cartpole_step, num_envs, num_steps)
    return jax.jit(fn) if jit else fn


def main():
    import _timing

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--num-envs", type=int, nargs="+", default=[1, 4, 64, 1024])
    ap.add_argument("--num-steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    results = []
    for n in args.num_envs:
        for name, make in (
            ("gymnax", gymnax_cartpole_rollout),
            ("builtin", builtin_cartpole_rollout),
        ):
            fn = make(n, args.num_steps, jit=False)
            res, out = _timing.benchmark(
                f"{name} CartPole, {n} envs x {args.num_steps} steps",
                fn,
                jax.random.PRNGKey(0),
                steps=n * args.num_steps,
                repeats=args.repeats,
            )
            res.extra["episodes"] = int(out[1])
            results.append(res)
    print(_timing.markdown_table(results, ("episodes",)))
    print("(peak RSS is cumulative over this process)")


if __name__ == "__main__":
    main()
