"""Multi-layer perceptrons with orthogonal initialisation, and argument checks."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, Key

from lerax.space import AbstractSpace, Box, Discrete

SQRT_TWO = math.sqrt(2.0)


def check_hidden(hidden: object, owner: str) -> tuple[int, ...]:
    """Validate a `hidden` argument: a non-empty tuple (or list) of positive ints.

    Raises:
        ValueError: if `hidden` is empty or holds a non-positive or non-integer width.
        TypeError: if `hidden` is not a tuple or list.
    """
    accepted = "a non-empty tuple of positive ints, e.g. (64, 64)"
    if not isinstance(hidden, (tuple, list)):
        raise TypeError(f"{owner}: `hidden` must be {accepted}; got {hidden!r}.")
    if len(hidden) == 0 or any(
        isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h <= 0 for h in hidden
    ):
        raise ValueError(f"{owner}: `hidden` must be {accepted}; got {hidden!r}.")
    return tuple(int(h) for h in hidden)


def check_activation(activation: object, owner: str) -> Callable[[Array], Array]:
    """Validate an `activation` argument: any callable, e.g. `jax.nn.relu`.

    Raises:
        TypeError: if `activation` is not callable.
    """
    if not callable(activation):
        raise TypeError(
            f"{owner}: `activation` must be a callable such as jax.nn.tanh or jax.nn.relu; "
            f"got {activation!r}."
        )
    return activation


def observation_classes(space: AbstractSpace, owner: str) -> int | None:
    """How observations of `space` are encoded: `None` to flatten, `n` to one-hot.

    Raises:
        TypeError: if `space` is neither a `Box` nor a `Discrete`.
    """
    if isinstance(space, Box):
        return None
    if isinstance(space, Discrete):
        return space.n
    raise TypeError(
        f"{owner}: unsupported observation space {type(space).__name__}; accepted: Box, Discrete."
    )


def observation_size(space: AbstractSpace) -> int:
    """The length of the encoded observation vector."""
    return space.n if isinstance(space, Discrete) else math.prod(space.shape)


def encode_observation(observation: Array, num_classes: int | None) -> Float[Array, " n"]:
    """Flatten a Box observation, or one-hot encode a Discrete one."""
    if num_classes is None:
        return observation.reshape(-1)
    return jax.nn.one_hot(observation, num_classes)


@functools.partial(jax.jit, static_argnums=1)
def _orthogonal(
    key: Key[Array, ""], shape: tuple[int, int], gain: Float[Array, ""]
) -> Float[Array, "o i"]:
    # Jitted so that each weight shape compiles once (whatever the gain), not op by op.
    return gain * _orthogonal_unit(key, shape)


def _orthogonal_unit(key: Key[Array, ""], shape: tuple[int, int]) -> Float[Array, "o i"]:
    """An orthogonal matrix drawn from `key`; under `vmap`, one member at a time.

    The draw is a QR factorisation. Batched (policies initialised inside `vmap`, e.g.
    one per seed), XLA:CPU runs it as LAPACK's batched QR, which splits the batch over
    the intra-op thread pool and waits for the parts; two such factorisations running
    at once (the actor's and the critic's layers) can each hold a pool thread while
    waiting for the other's parts, and on a small pool (2 cores) the program then
    never finishes. Drawn member by member (`lax.map`) every QR is unbatched and runs
    on its own thread; the matrices are the same, bit for bit.
    """

    @jax.custom_batching.custom_vmap
    def draw(key):
        return jax.nn.initializers.orthogonal()(key, shape, jnp.float32)

    @draw.def_vmap
    def _member_by_member(axis_size, in_batched, key):
        (batched,) = in_batched
        if not batched:
            return draw(key), False
        return jax.lax.map(draw, key), True

    return draw(key)


class Dense(eqx.Module):
    """A fully connected layer `x @ kernel + bias`, its kernel stored `[in, out]`.

    Why not `eqx.nn.Linear` (weight `[out, in]`, `weight @ x`): under `vmap` the
    batched product contracts the weight's last axis, and XLA:CPU's dot kernels then
    transpose the weight at every call. Stored `[in, out]` it is used as it lies,
    and PPO on CartPole trains faster on the CPU (measured in `benchmarks/README.md`).

    Attributes:
        kernel: Weights, shape `(in_size, out_size)`.
        bias: Bias, shape `(out_size,)`.
    """

    kernel: Float[Array, "in_size out_size"]
    bias: Float[Array, " out_size"]

    @property
    def in_features(self) -> int:
        """Input length."""
        return self.kernel.shape[-2]

    @property
    def out_features(self) -> int:
        """Output length."""
        return self.kernel.shape[-1]

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"]:
        return x @ self.kernel + self.bias


def orthogonal_dense(in_size: int, out_size: int, gain: float, *, key: Key[Array, ""]) -> Dense:
    """A `Dense` layer with orthogonal weights scaled by `gain` and zero bias.

    The kernel `K` of shape `(in_size, out_size)` satisfies `K^T K = gain^2 I` when
    `out_size <= in_size`, else `K K^T = gain^2 I`. (It is the transpose of the
    `(out_size, in_size)` orthogonal matrix drawn from `key`.)
    """
    weight = _orthogonal(key, (out_size, in_size), jnp.float32(gain))
    return Dense(kernel=weight.T, bias=jnp.zeros(out_size))


def uniform_dense(in_size: int, out_size: int, *, key: Key[Array, ""]) -> Dense:
    """A `Dense` layer initialised as PyTorch's `nn.Linear` is by default: kernel and
    bias uniform in `[-1/sqrt(in_size), 1/sqrt(in_size)]` (Stable-Baselines3's
    `ortho_init=False`)."""
    bound = 1.0 / math.sqrt(in_size)
    kernel_key, bias_key = jr.split(key)
    kernel = jr.uniform(kernel_key, (in_size, out_size), jnp.float32, -bound, bound)
    bias = jr.uniform(bias_key, (out_size,), jnp.float32, -bound, bound)
    return Dense(kernel=kernel, bias=bias)


class MLP(eqx.Module):
    """A fully connected network `Dense -> activation -> ... -> Dense`.

    Args:
        in_size: Input length.
        out_size: Output length.
        hidden: Widths of the hidden layers (non-empty).
        activation: Applied after every hidden layer (not after the output layer).
        hidden_gain: Orthogonal-init gain of the hidden layers.
        output_gain: Orthogonal-init gain of the output layer.
        key: PRNG key for the initialisation.
        orthogonal: Orthogonal weights with the gains and zero biases; if False,
            PyTorch's default uniform initialisation (`uniform_dense`, gains unused).
    """

    layers: tuple[Dense, ...]
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        hidden: Sequence[int],
        activation: Callable[[Array], Array],
        *,
        hidden_gain: float = SQRT_TWO,
        output_gain: float = 1.0,
        key: Key[Array, ""],
        orthogonal: bool = True,
    ):
        sizes = (in_size, *hidden, out_size)
        keys = jr.split(key, len(sizes) - 1)
        gains = [hidden_gain] * len(hidden) + [output_gain]
        self.layers = tuple(
            orthogonal_dense(i, o, g, key=k) if orthogonal else uniform_dense(i, o, key=k)
            for i, o, g, k in zip(sizes[:-1], sizes[1:], gains, keys, strict=True)
        )
        self.activation = activation

    def features(self, x: Float[Array, " in_size"]) -> Float[Array, " last_hidden"]:
        """The last hidden layer's activations (the input of the output layer)."""
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return x

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"]:
        return self.layers[-1](self.features(x))


def actor_critic_mlps(
    in_size: int,
    action_size: int,
    hidden: Sequence[int],
    activation: Callable[[Array], Array],
    *,
    ortho_init: bool,
    key: Key[Array, ""],
) -> tuple[MLP, MLP]:
    """The actor (`action_size` outputs, output gain 0.01) and critic (one output, gain
    1.0) MLPs of an actor-critic policy; hidden gains `sqrt(2)`."""
    actor_key, critic_key = jr.split(key)
    common = dict(hidden_gain=SQRT_TWO, orthogonal=ortho_init)
    actor = MLP(in_size, action_size, hidden, activation, output_gain=0.01, key=actor_key, **common)
    critic = MLP(in_size, 1, hidden, activation, output_gain=1.0, key=critic_key, **common)
    return actor, critic
