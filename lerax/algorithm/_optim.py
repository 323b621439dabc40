"""Optimiser plumbing shared by the algorithms."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PyTree

from lerax.space import AbstractSpace


def trainable(module: PyTree, *, as_filter: bool = False) -> PyTree:
    """The trainable parameters of `module`: its inexact arrays, spaces excluded.

    Args:
        module: A policy or network.
        as_filter: Return the boolean filter spec instead of the filtered module.
    """
    spec = jax.tree.map(
        lambda x: False if isinstance(x, AbstractSpace) else eqx.is_inexact_array(x),
        module,
        is_leaf=lambda x: isinstance(x, AbstractSpace),
    )
    return spec if as_filter else eqx.filter(module, spec)


def adam_with_clipping(max_grad_norm: Float[Array, ""], eps: float = 1e-5):
    """Global-norm clipping then Adam's scaling; the step size is applied separately
    (`apply_scaled_update`) so that it may be a traced, annealed array."""
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.scale_by_adam(eps=eps))


def rmsprop_with_clipping(
    max_grad_norm: Float[Array, ""], decay: float = 0.99, eps: float = 1e-5
) -> optax.GradientTransformation:
    """Global-norm clipping then RMSprop's scaling as PyTorch (and so Stable-Baselines3's
    A2C) computes it: `g / (sqrt(v) + eps)` with `v` starting at 0, no momentum; the
    step size is applied separately (`apply_scaled_update`)."""
    return optax.chain(
        optax.clip_by_global_norm(max_grad_norm),
        optax.scale_by_rms(decay=decay, eps=eps, eps_in_sqrt=False),
    )


def apply_scaled_update(optimizer, grads, opt_state, module, learning_rate):
    """One optimiser step: `module += -learning_rate * optimizer(grads)`."""
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(module, eqx.is_array))
    updates = jax.tree.map(lambda u: -learning_rate * u, updates)
    return eqx.apply_updates(module, updates), opt_state


def linear_annealing(
    learning_rate: Float[Array, ""], iteration: Int[Array, ""], total_iterations: Int[Array, ""]
) -> Float[Array, ""]:
    """CleanRL's schedule: `lr * (1 - iteration / total_iterations)` for the 0-based
    index of the iteration being run."""
    # The barrier keeps XLA from folding a constant `total_iterations` (as in `learn`)
    # into a multiplication by its rounded reciprocal: `init` + `train`, where it is a
    # traced value, must give bitwise the same learning rates.
    total = jax.lax.optimization_barrier(total_iterations.astype(jnp.float32))
    fraction = 1.0 - iteration.astype(jnp.float32) / total
    return learning_rate * jnp.maximum(fraction, 0.0)
