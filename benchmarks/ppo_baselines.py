"""External PPO baselines on CartPole-v1, same workload as lerax's PPO benchmark.

Methods (each ``train(key)`` is one jitted call covering all 2**17 env steps):

* ``rejax``          -- rejax 0.1.3's stock ``PPO`` configured as closely as its config
  allows (see "rejax caveats" below).
* ``rejax-matched``  -- the same rejax PPO, subclassed only to swap in the reference
  optimizer and init (global-norm clip 0.5, Adam eps 1e-5 with lr linearly annealed to
  0, orthogonal init), so its learning dynamics match the workload. Still rejax's
  separate actor/critic Adam states, each clipped on its own.
* ``purejaxrl``         -- the hand-written single-file PPO (benchmarks/purejaxrl_ppo.py)
  on its own built-in pure-JAX CartPole.
* ``purejaxrl-gymnax``  -- the same hand-written PPO on gymnax's CartPole-v1 (the env
  rejax uses), to separate env cost from algorithm/framework cost.

Workload: 4 envs x 128 steps per update (256 updates), 4 epochs x 4 minibatches,
actor and critic MLPs 64x64 tanh, lr 2.5e-4, clip 0.5, gamma 0.99, lambda 0.95,
clip_eps 0.2, ent 0.01, vf 0.5, 2**17 total steps.

rejax caveats (rejax 0.1.3, read from its source):
* periodic evaluation: ``train`` runs ``eval_callback`` (128 episodes x up to 500 steps)
  every ``eval_freq`` steps plus once before training. We set
  ``skip_initial_evaluation=True``, ``eval_freq=total_timesteps`` (one outer iteration
  of 256 updates) and replace ``eval_callback`` with a no-op, so evaluation costs
  nothing inside the timed call; learning is checked afterwards, outside the timing,
  with ``rejax.evaluate`` (128 episodes, stochastic policy).
* stock rejax has no lr annealing (constant 2.5e-4), ``max_grad_norm`` is applied with
  ``optax.clip`` (element-wise clipping, not global norm), Adam eps is optax's default
  1e-8, and Dense layers use flax's default lecun-normal init; actor and critic have
  separate optimizers and gradient computations.  ``rejax-matched`` fixes all of those
  except the separate optimizers.

Each method is timed in its own subprocess (clean first-call time and peak RSS); use
``--inprocess`` to time them side by side in this process, steady-state calls
interleaved round-robin (fairer when the machine has background load).

    python benchmarks/ppo_baselines.py [--methods rejax purejaxrl] [--repeats 5] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing  # noqa: E402
import purejaxrl_ppo  # noqa: E402

TOTAL_TIMESTEPS = 2**17

REJAX_PPO_CONFIG = dict(
    env="CartPole-v1",
    num_envs=4,
    num_steps=128,
    num_epochs=4,
    num_minibatches=4,
    learning_rate=2.5e-4,
    max_grad_norm=0.5,
    gamma=0.99,
    gae_lambda=0.95,
    clip_eps=0.2,
    ent_coef=0.01,
    vf_coef=0.5,
    agent_kwargs={"activation": "tanh", "hidden_layer_sizes": (64, 64)},
    normalize_observations=False,
    normalize_rewards=False,
    skip_initial_evaluation=True,
)

METHODS = ("rejax", "rejax-matched", "purejaxrl", "purejaxrl-gymnax")


# ------------------------------------------------------------------------- rejax


def _orthogonal_reinit(params, key, head_name, head_scale):
    """Re-initialise every Dense kernel orthogonally (sqrt(2), head: head_scale), bias 0."""
    import math

    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    keys = jax.random.split(key, len(flat))
    out = []
    for (path, leaf), k in zip(flat, keys, strict=True):
        names = [getattr(p, "key", "") for p in path]
        if names[-1] == "kernel":
            scale = head_scale if head_name in names else math.sqrt(2.0)
            leaf = jax.nn.initializers.orthogonal(scale)(k, leaf.shape, leaf.dtype)
        elif names[-1] == "bias":
            leaf = jnp.zeros_like(leaf)
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)


def _matched_ppo_class():
    """rejax PPO with the reference optimizer/init (built lazily: rejax is optional)."""
    from flax.training.train_state import TrainState
    from rejax import PPO
    from rejax.algos.algorithm import register_init

    class MatchedPPO(PPO):
        @register_init
        def initialize_network_params(self, rng):  # overrides PPO's registered init
            rng, rng_actor, rng_critic, rng_a2, rng_c2 = jax.random.split(rng, 5)
            obs_ph = jnp.empty([1, *self.env.observation_space(self.env_params).shape])
            actor_params = self.actor.init(rng_actor, obs_ph, rng_actor)
            critic_params = self.critic.init(rng_critic, obs_ph)
            actor_params = _orthogonal_reinit(actor_params, rng_a2, "action_logits", 0.01)
            # VNetwork = MLP (Dense_0, Dense_1) + head Dense_2 in one compact scope.
            critic_params = _orthogonal_reinit(critic_params, rng_c2, "Dense_2", 1.0)

            iters = self.total_timesteps // (self.num_envs * self.num_steps)
            per_iter = self.num_epochs * self.num_minibatches

            def schedule(count):
                return self.learning_rate * (1.0 - (count // per_iter) / iters)

            tx = optax.chain(
                optax.clip_by_global_norm(self.max_grad_norm),
                optax.adam(learning_rate=schedule, eps=1e-5),
            )
            actor_ts = TrainState.create(apply_fn=(), params=actor_params, tx=tx)
            critic_ts = TrainState.create(apply_fn=(), params=critic_params, tx=tx)
            return {"actor_ts": actor_ts, "critic_ts": critic_ts}

    return MatchedPPO


def make_rejax_ppo(matched: bool = False, total_timesteps: int = TOTAL_TIMESTEPS, **overrides):
    """Build the rejax PPO algorithm object with periodic evaluation disabled."""
    from rejax import PPO

    cls = _matched_ppo_class() if matched else PPO
    config = {**REJAX_PPO_CONFIG, "total_timesteps": total_timesteps, **overrides}
    config.setdefault("eval_freq", total_timesteps)  # one outer scan step
    algo = cls.create(**config)
    # No-op evaluation: nothing extra is computed inside the timed train call.
    return algo.replace(eval_callback=lambda algo, ts, rng: jnp.zeros(()))


def rejax_evaluate(algo, train_state, key, num_episodes: int = 128):
    """Mean undiscounted return of the stochastic policy over ``num_episodes`` episodes."""
    from rejax.evaluate import evaluate

    act = algo.make_act(train_state)
    max_steps = algo.env_params.max_steps_in_episode
    _, returns = evaluate(act, key, algo.env, algo.env_params, num_episodes, max_steps)
    return float(returns.mean())


# ------------------------------------------------------------------------- runner


def _make(method: str, total_timesteps: int):
    """Return (un-jitted train(key), evaluate(output, key) -> float)."""
    if method in ("rejax", "rejax-matched"):
        algo = make_rejax_ppo(matched=method == "rejax-matched", total_timesteps=total_timesteps)
        return algo.train, lambda out, key: rejax_evaluate(algo, out[0], key)
    if method in ("purejaxrl", "purejaxrl-gymnax"):
        env = "gymnax" if method.endswith("gymnax") else "builtin"
        train = purejaxrl_ppo.make_train(total_timesteps=total_timesteps, env=env)
        evaluate = jax.jit(purejaxrl_ppo.make_evaluate(env=env))
        return train, lambda out, key: float(evaluate(out[0], key).mean())
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


class _Run:
    """One method: fresh jit, first call, steady-state calls, learning check."""

    def __init__(self, method: str, total_timesteps: int):
        self.method, self.steps = method, total_timesteps
        train, self.evaluate = _make(method, total_timesteps)
        self.jitted = _timing.fresh_jit(train)
        self.key = jax.random.PRNGKey(0)
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.first_call_s = float("nan")

    def first_call(self):
        t0 = time.perf_counter()
        jax.block_until_ready(self.jitted(self.key))
        self.first_call_s = time.perf_counter() - t0

    def timed_call(self):
        c0, t0 = _timing.cpu_seconds(), time.perf_counter()
        jax.block_until_ready(self.jitted(self.key))
        self.times.append(time.perf_counter() - t0)
        self.cpu.append(_timing.cpu_seconds() - c0)

    def result(self, seeds: int) -> _timing.BenchResult:
        # Learning check, outside the timing, with the same compiled train function.
        returns = []
        for s in range(seeds):
            out = jax.block_until_ready(self.jitted(jax.random.PRNGKey(s)))
            returns.append(self.evaluate(out, jax.random.PRNGKey(10_000 + s)))
        res = _timing.BenchResult(
            name=self.method,
            first_call_s=self.first_call_s,
            steady_s=statistics.median(self.times),
            steady_min_s=min(self.times),
            steady_max_s=max(self.times),
            steady_cpu_s=statistics.median(self.cpu),
            steps=self.steps,
            peak_rss_mib=_timing.peak_rss_mib(),
        )
        res.extra["final return (per seed)"] = " / ".join(f"{r:.0f}" for r in returns)
        res.extra["final return (mean)"] = f"{sum(returns) / len(returns):.1f}"
        return res


def run_methods(
    methods, total_timesteps: int = TOTAL_TIMESTEPS, repeats: int = 5, seeds: int = 3
) -> list[_timing.BenchResult]:
    """Time ``methods`` in this process: each first call (fresh jit) in turn, then one
    warm-up call each, then ``repeats`` rounds that time every method once per round
    (interleaved, so background load hits all methods alike), then the learning check.
    Peak RSS is the process-wide peak, i.e. cumulative over ``methods``."""
    runs = [_Run(m, total_timesteps) for m in methods]
    for r in runs:
        r.first_call()
    for r in runs:
        jax.block_until_ready(r.jitted(r.key))  # warm-up
    for _ in range(repeats):
        for r in runs:
            r.timed_call()
    return [r.result(seeds) for r in runs]


def run_method(
    method: str, total_timesteps: int = TOTAL_TIMESTEPS, repeats: int = 5, seeds: int = 3
) -> _timing.BenchResult:
    """Time one method (call it in a fresh process for a clean first call and peak RSS)."""
    return run_methods([method], total_timesteps, repeats, seeds)[0]


def _run_subprocess(method: str, args) -> _timing.BenchResult:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        method,
        "--timesteps",
        str(args.timesteps),
        "--repeats",
        str(args.repeats),
        "--seeds",
        str(args.seeds),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{proc.stderr[-4000:]}")
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    d.pop("steps_per_s")
    return _timing.BenchResult(**d)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--timesteps", type=int, default=TOTAL_TIMESTEPS)
    ap.add_argument("--repeats", type=int, default=5, help="steady-state runs (median)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds for the learning check")
    ap.add_argument(
        "--inprocess",
        action="store_true",
        help="all methods in this process, steady-state calls interleaved across methods",
    )
    ap.add_argument("--timeout", type=float, default=900, help="per-method subprocess timeout")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:  # one method, JSON on the last stdout line
        res = run_method(args.child, args.timesteps, args.repeats, args.seeds)
        print(json.dumps(res.to_dict()))
        return

    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}, "
        f"{os.cpu_count()} CPUs; {args.timesteps} env steps per train call",
        flush=True,
    )
    if args.inprocess:
        t0 = time.perf_counter()
        results = run_methods(args.methods, args.timesteps, args.repeats, args.seeds)
        print(f"  all methods: done in {time.perf_counter() - t0:.1f}s", flush=True)
    else:
        results = []
        for m in args.methods:
            t0 = time.perf_counter()
            results.append(_run_subprocess(m, args))
            print(f"  {m}: done in {time.perf_counter() - t0:.1f}s", flush=True)
    print()
    print(_timing.markdown_table(results, ("final return (mean)", "final return (per seed)")))
    if args.inprocess:
        print("\n(--inprocess: steady-state calls interleaved; peak RSS is the process peak)")


if __name__ == "__main__":
    main()
