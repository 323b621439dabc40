"""Hand-written, single-file PPO in the "PureJaxRL" style: the whole training run
(rollouts, GAE, epochs x minibatches of updates) is one ``jax.jit`` over nested
``lax.scan``s.  It is the speed floor for lerax's PPO: plain ``jax`` + ``optax``,
parameters as dicts, no framework.

Default workload (the reference CartPole-v1 setup):
  4 envs x 128 steps per update, 4 epochs x 4 minibatches, separate actor and critic
  MLPs 64x64 tanh (orthogonal init: sqrt(2) hidden, 0.01 actor head, 1.0 critic head),
  Adam lr 2.5e-4 linearly annealed to 0 (eps 1e-5), global-norm clip 0.5,
  gamma 0.99, lambda 0.95, clip 0.2, ent 0.01, vf 0.5 (clipped value loss),
  per-minibatch advantage normalisation, 2**17 environment steps.

The CartPole is a minimal pure-JAX port of Gym's CartPole-v1 dynamics (Euler, 500-step
limit, auto-reset, ``done`` = terminated or truncated, as in gymnax), so this file needs
no gymnax; ``env="gymnax"`` swaps in gymnax's CartPole-v1 instead.

    python benchmarks/purejaxrl_ppo.py [--seeds 0 1 2] [--timesteps 131072] [--env gymnax]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

# ----------------------------------------------------------------------------- env


class CartPoleState(NamedTuple):
    phys: jax.Array  # (4,) x, x_dot, theta, theta_dot
    t: jax.Array  # step counter inside the episode


def cartpole_reset(key):
    phys = jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)
    return phys, CartPoleState(phys, jnp.zeros((), jnp.int32))


def cartpole_step(key, state, action):
    """One CartPole-v1 step with auto-reset; returns (obs, state, reward, done)."""
    g, m_cart, m_pole, half_len, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_m, pm_len = m_cart + m_pole, m_pole * half_len
    x, x_dot, th, th_dot = state.phys
    force = jnp.where(action == 1, force_mag, -force_mag)
    cos, sin = jnp.cos(th), jnp.sin(th)
    tmp = (force + pm_len * th_dot**2 * sin) / total_m
    th_acc = (g * sin - cos * tmp) / (half_len * (4.0 / 3.0 - m_pole * cos**2 / total_m))
    x_acc = tmp - pm_len * th_acc * cos / total_m
    phys = jnp.stack(
        [x + tau * x_dot, x_dot + tau * x_acc, th + tau * th_dot, th_dot + tau * th_acc]
    )
    t = state.t + 1
    theta_limit = 12 * 2 * math.pi / 360
    done = (jnp.abs(phys[0]) > 2.4) | (jnp.abs(phys[2]) > theta_limit) | (t >= 500)
    reset_obs, reset_state = cartpole_reset(key)
    new_state = jax.tree.map(
        lambda r, s: jnp.where(done, r, s), reset_state, CartPoleState(phys, t)
    )
    return jnp.where(done, reset_obs, phys), new_state, jnp.ones(()), done


def make_env(env: str = "builtin"):
    """(reset(key) -> (obs, state), step(key, state, action) -> (obs, state, r, done))."""
    if env == "builtin":
        return cartpole_reset, cartpole_step
    if env == "gymnax":
        import gymnax

        genv, gparams = gymnax.make("CartPole-v1")
        return (
            lambda k: genv.reset(k, gparams),
            lambda k, s, a: genv.step(k, s, a, gparams)[:4],
        )
    raise ValueError(f"unknown env {env!r}")


# ------------------------------------------------------------------------ networks


def init_mlp(key, sizes, head_scale):
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        scale = head_scale if i == len(sizes) - 2 else math.sqrt(2.0)
        w = jax.nn.initializers.orthogonal(scale)(k, (n_in, n_out), jnp.float32)
        layers.append({"w": w, "b": jnp.zeros((n_out,), jnp.float32)})
    return layers


def mlp(layers, x):
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def policy_value(params, obs):
    return mlp(params["actor"], obs), mlp(params["critic"], obs)[..., 0]


# --------------------------------------------------------------------------- train


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    logp: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array


def make_train(
    total_timesteps: int = 2**17,
    num_envs: int = 4,
    num_steps: int = 128,
    num_epochs: int = 4,
    num_minibatches: int = 4,
    lr: float = 2.5e-4,
    anneal_lr: bool = True,
    gamma: float = 0.99,
    gae_lambda: float = 0.95,
    clip_eps: float = 0.2,
    ent_coef: float = 0.01,
    vf_coef: float = 0.5,
    max_grad_norm: float = 0.5,
    hidden: int = 64,
    env: str = "builtin",
):
    """Return ``train(key) -> (params, metrics)`` (not jitted; wrap it in ``jax.jit``).

    ``metrics["ep_return_sum"] / metrics["ep_count"]`` (per update) give the mean return
    of the episodes that finished during that update.
    """
    env_reset, env_step = make_env(env)
    obs_dim, n_actions = 4, 2
    batch = num_envs * num_steps
    num_updates = total_timesteps // batch
    mb_size = batch // num_minibatches

    def schedule(count):  # optax counts minibatch steps
        frac = 1.0 - (count // (num_epochs * num_minibatches)) / num_updates
        return lr * frac if anneal_lr else lr

    tx = optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(schedule, eps=1e-5))

    def loss_fn(params, mb: Transition, adv, target):
        logits, value = policy_value(params, mb.obs)
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, mb.action[:, None], axis=-1)[:, 0]
        entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
        v_clipped = mb.value + jnp.clip(value - mb.value, -clip_eps, clip_eps)
        v_loss = 0.5 * jnp.maximum((value - target) ** 2, (v_clipped - target) ** 2).mean()
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        ratio = jnp.exp(logp - mb.logp)
        pg_loss = -jnp.minimum(
            ratio * adv, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv
        ).mean()
        return pg_loss + vf_coef * v_loss - ent_coef * entropy

    def rollout_step(carry, _):
        params, env_state, obs, ep_ret, key = carry
        key, k_act, k_env = jax.random.split(key, 3)
        logits, value = policy_value(params, obs)
        action = jax.random.categorical(k_act, logits)
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
        next_obs, env_state, reward, done = jax.vmap(env_step)(
            jax.random.split(k_env, num_envs), env_state, action
        )
        ep_ret = ep_ret + reward
        finished = (jnp.where(done, ep_ret, 0.0).sum(), done.sum())
        ep_ret = jnp.where(done, 0.0, ep_ret)
        tr = Transition(obs, action, logp, value, reward, done.astype(jnp.float32))
        return (params, env_state, next_obs, ep_ret, key), (tr, finished)

    def gae(traj: Transition, last_value):
        def back(carry, tr):
            next_adv, next_value = carry
            nonterm = 1.0 - tr.done
            delta = tr.reward + gamma * next_value * nonterm - tr.value
            adv = delta + gamma * gae_lambda * nonterm * next_adv
            return (adv, tr.value), adv

        _, adv = jax.lax.scan(back, (jnp.zeros_like(last_value), last_value), traj, reverse=True)
        return adv, adv + traj.value

    def update(carry, _):
        params, opt_state, env_state, obs, ep_ret, key = carry
        (params, env_state, obs, ep_ret, key), (traj, finished) = jax.lax.scan(
            rollout_step, (params, env_state, obs, ep_ret, key), None, num_steps
        )
        adv, target = gae(traj, policy_value(params, obs)[1])

        def epoch(carry, k):
            def minibatch(carry, mb):
                params, opt_state = carry
                grads = jax.grad(loss_fn)(params, *mb)
                updates, opt_state = tx.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), None

            perm = jax.random.permutation(k, batch)
            shuffled = jax.tree.map(
                lambda x: x.reshape(batch, *x.shape[2:])[perm].reshape(
                    num_minibatches, mb_size, *x.shape[2:]
                ),
                (traj, adv, target),
            )
            return jax.lax.scan(minibatch, carry, shuffled)[0], None

        key, k_epochs = jax.random.split(key)
        (params, opt_state), _ = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(k_epochs, num_epochs)
        )
        metrics = {"ep_return_sum": finished[0].sum(), "ep_count": finished[1].sum()}
        return (params, opt_state, env_state, obs, ep_ret, key), metrics

    def train(key):
        k_actor, k_critic, k_env, key = jax.random.split(key, 4)
        params = {
            "actor": init_mlp(k_actor, (obs_dim, hidden, hidden, n_actions), 0.01),
            "critic": init_mlp(k_critic, (obs_dim, hidden, hidden, 1), 1.0),
        }
        obs, env_state = jax.vmap(env_reset)(jax.random.split(k_env, num_envs))
        carry = (params, tx.init(params), env_state, obs, jnp.zeros(num_envs), key)
        carry, metrics = jax.lax.scan(update, carry, None, num_updates)
        return carry[0], metrics

    return train


def final_training_return(metrics, last_updates: int = 10):
    """Mean return of the episodes that finished during the last ``last_updates`` updates."""
    s = metrics["ep_return_sum"][..., -last_updates:].sum(-1)
    n = metrics["ep_count"][..., -last_updates:].sum(-1)
    return s / jnp.maximum(n, 1)


def make_evaluate(num_episodes: int = 128, max_steps: int = 500, env: str = "builtin"):
    """``evaluate(params, key) -> returns (num_episodes,)`` with the stochastic policy."""
    env_reset, env_step = make_env(env)

    def evaluate(params, key):
        k_reset, key = jax.random.split(key)
        obs, state = jax.vmap(env_reset)(jax.random.split(k_reset, num_episodes))

        def step(carry, _):
            obs, state, alive, ret, key = carry
            key, k_act, k_env = jax.random.split(key, 3)
            action = jax.random.categorical(k_act, policy_value(params, obs)[0])
            obs, state, reward, done = jax.vmap(env_step)(
                jax.random.split(k_env, num_episodes), state, action
            )
            ret = ret + reward * alive
            return (obs, state, alive & ~done, ret, key), None

        alive = jnp.ones(num_episodes, bool)
        carry = (obs, state, alive, jnp.zeros(num_episodes), key)
        return jax.lax.scan(step, carry, None, max_steps)[0][3]

    return evaluate


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--timesteps", type=int, default=2**17)
    ap.add_argument("--env", choices=["builtin", "gymnax"], default="builtin")
    args = ap.parse_args()

    train = jax.jit(make_train(total_timesteps=args.timesteps, env=args.env))
    evaluate = jax.jit(make_evaluate(env=args.env))
    for seed in args.seeds:
        t0 = time.perf_counter()
        params, metrics = jax.block_until_ready(train(jax.random.PRNGKey(seed)))
        dt = time.perf_counter() - t0
        eval_ret = evaluate(params, jax.random.PRNGKey(10_000 + seed)).mean()
        print(
            f"seed {seed}: {dt:6.2f}s ({'incl. compile' if seed == args.seeds[0] else 'steady'}), "
            f"mean episodic return (last 10 updates) {float(final_training_return(metrics)):6.1f}, "
            f"eval (128 episodes) {float(eval_ret):6.1f}"
        )


if __name__ == "__main__":
    main()
