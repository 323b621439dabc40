"""A Q-network policy for discrete actions (DQN)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, Int, Key

from lerax._checks import check_bool
from lerax.space import AbstractSpace, Discrete

from ._abstract import AbstractPolicy
from ._mlp import (
    MLP,
    check_activation,
    check_hidden,
    encode_observation,
    observation_classes,
    observation_size,
)

if TYPE_CHECKING:
    from lerax.env import AbstractEnv

_OWNER = "MLPQPolicy"


class MLPQPolicy(AbstractPolicy):
    """An MLP mapping an observation to one Q-value per discrete action.

    `predict(observation)` (no key) is greedy: `argmax q_values(observation)`.
    `predict(observation, key=key)` is epsilon-greedy: with probability
    `epsilon` a uniformly random action (which may coincide with the greedy
    one), otherwise the greedy action. `epsilon` is an array field, so an
    algorithm anneals it with `eqx.tree_at(lambda p: p.epsilon, policy, value)`
    without recompiling; it is not a trainable parameter (differentiate
    `q_network` only).

    Initialisation: orthogonal weights (gain `sqrt(2)` hidden, `1.0` output),
    zero biases. `Box` observations are flattened, `Discrete` ones one-hot encoded.

    Args:
        env: Supplies `observation_space` and `action_space` (must be `Discrete`).
        key: PRNG key for the initialisation.
        hidden: Hidden-layer widths, a non-empty tuple of positive ints.
        activation: Hidden-layer activation, a callable.
        epsilon: Exploration probability of the sampled `predict`, in `[0, 1]`.
        ortho_init: The orthogonal initialisation above; if False, PyTorch's default
            uniform one (what Stable-Baselines3's DQN uses).

    Raises:
        TypeError: for a non-`Discrete` action space, an unsupported observation
            space or a non-callable `activation`.
        ValueError: for a bad `hidden` or an `epsilon` outside `[0, 1]`.
    """

    observation_space: AbstractSpace
    action_space: Discrete
    q_network: MLP
    epsilon: Float[Array, ""]

    def __init__(
        self,
        env: AbstractEnv,
        *,
        key: Key[Array, ""],
        hidden: tuple[int, ...] = (64, 64),
        activation: Callable[[Array], Array] = jax.nn.relu,
        epsilon: float | Float[ArrayLike, ""] = 0.05,
        ortho_init: bool = True,
    ):
        hidden = check_hidden(hidden, _OWNER)
        activation = check_activation(activation, _OWNER)
        check_bool(_OWNER, "ortho_init", ortho_init)
        observation_space, action_space = env.observation_space, env.action_space
        if not isinstance(action_space, Discrete):
            raise TypeError(
                f"{_OWNER}: unsupported action space {action_space!r}; accepted: Discrete."
            )
        observation_classes(observation_space, _OWNER)
        epsilon = jnp.asarray(epsilon, dtype=jnp.float32)
        if not isinstance(epsilon, jax.core.Tracer) and not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"{_OWNER}: `epsilon` must be in [0, 1]; got {float(epsilon)}.")
        self.observation_space = observation_space
        self.action_space = action_space
        self.q_network = MLP(
            observation_size(observation_space),
            action_space.n,
            hidden,
            activation,
            key=key,
            orthogonal=ortho_init,
        )
        self.epsilon = epsilon

    def q_values(self, observation: Array) -> Float[Array, " n"]:
        """One Q-value per action, shape `(action_space.n,)`."""
        features = encode_observation(
            observation, observation_classes(self.observation_space, _OWNER)
        )
        return self.q_network(features)

    def predict(self, observation: Array, *, key: Key[Array, ""] | None = None) -> Int[Array, ""]:
        """Greedy action without `key`; epsilon-greedy action with `key`."""
        greedy = jnp.argmax(self.q_values(observation)).astype(jnp.int32)
        if key is None:
            return greedy
        explore_key, action_key = jr.split(key)
        random_action = jr.randint(action_key, (), 0, self.action_space.n, dtype=jnp.int32)
        return jnp.where(jr.uniform(explore_key) < self.epsilon, random_action, greedy)
