"""A fixed-shape circular replay buffer with uniform sampling (DQN, SAC)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, Key

from lerax._checks import check_int
from lerax.checkpoint import AbstractReplayBuffer
from lerax.space import AbstractSpace


class ReplayBatch(eqx.Module):
    """A minibatch of transitions, leading axis `batch_size`.

    Attributes:
        observation: Observations, `(batch_size, *observation_shape)`.
        action: Actions as taken, `(batch_size, *action_shape)`.
        reward: Rewards, `(batch_size,)`.
        next_observation: The observation after the step, `(batch_size, *observation_shape)`;
            for a finished episode the TRUE final observation, not the next reset.
        terminated: Whether the step ended in a terminal state (no bootstrapping);
            time-limit truncations are stored as `False`, so they are bootstrapped.
    """

    observation: Array
    action: Array
    reward: Float[Array, " batch_size"]
    next_observation: Array
    terminated: Bool[Array, " batch_size"]


class ReplayBuffer(AbstractReplayBuffer):
    """The last `capacity` transitions, stored in preallocated arrays.

    Pure and fixed-shape: `add` and `sample` return new values and never change a
    shape, so the buffer lives in a `lax.while_loop` carry, in a `TrainState`, in a
    checkpoint, and under `jax.vmap` over seeds (every member has its own buffer).
    Writing is circular: once full, the oldest transitions are overwritten first.

    Build one with `ReplayBuffer.create`.

    Attributes:
        capacity: Number of slots (static).
        observations: `(capacity, *observation_shape)`, the observation space's dtype.
        actions: `(capacity, *action_shape)`, the action space's dtype.
        rewards: `(capacity,)` float32.
        next_observations: `(capacity, *observation_shape)`.
        terminated: `(capacity,)` bool.
        position: Slot the next transition is written to.
        size: Number of filled slots, at most `capacity`.
    """

    capacity: int = eqx.field(static=True)
    observations: Array
    actions: Array
    rewards: Float[Array, " capacity"]
    next_observations: Array
    terminated: Bool[Array, " capacity"]
    position: Int[Array, ""]
    size: Int[Array, ""]

    @classmethod
    def create(
        cls, capacity: int, observation_space: AbstractSpace, action_space: AbstractSpace
    ) -> ReplayBuffer:
        """An empty buffer for transitions of the given spaces.

        Args:
            capacity: Number of transitions kept (a positive int).
            observation_space: Gives the observations' shape and dtype.
            action_space: Gives the actions' shape and dtype.

        Raises:
            TypeError: if `capacity` is not an int.
            ValueError: if `capacity` is not positive.
        """
        check_int("ReplayBuffer", "capacity", capacity)
        obs = jnp.zeros((capacity, *observation_space.shape), observation_space.dtype)
        return cls(
            capacity=capacity,
            observations=obs,
            actions=jnp.zeros((capacity, *action_space.shape), action_space.dtype),
            rewards=jnp.zeros(capacity, jnp.float32),
            next_observations=obs,
            terminated=jnp.zeros(capacity, bool),
            position=jnp.zeros((), jnp.int32),
            size=jnp.zeros((), jnp.int32),
        )

    def add(
        self,
        observation: Array,
        action: Array,
        reward: Float[Array, " n"],
        next_observation: Array,
        terminated: Bool[Array, " n"],
    ) -> ReplayBuffer:
        """Write a batch of `n` transitions (e.g. one per env) at the write position.

        Row `i` goes to slot `(position + i) % capacity`; values are cast to the
        buffer's dtypes.

        Args:
            observation: `(n, *observation_shape)`.
            action: `(n, *action_shape)`.
            reward: `(n,)`.
            next_observation: `(n, *observation_shape)`, the true final observation
                where an episode ended.
            terminated: `(n,)`, True only for terminal states (not time limits).

        Returns:
            The buffer with the transitions written, `position` advanced by `n`
            (modulo `capacity`) and `size` grown by `n` (at most `capacity`).

        Raises:
            ValueError: if `n > capacity` or a shape does not match the buffer.
        """
        n = reward.shape[0]
        if n > self.capacity:
            raise ValueError(
                f"ReplayBuffer.add: {n} transitions do not fit in a buffer of capacity "
                f"{self.capacity}."
            )
        for name, value, stored in (
            ("observation", observation, self.observations),
            ("action", action, self.actions),
            ("reward", reward, self.rewards),
            ("next_observation", next_observation, self.next_observations),
            ("terminated", terminated, self.terminated),
        ):
            if value.shape != (n, *stored.shape[1:]):
                raise ValueError(
                    f"ReplayBuffer.add: `{name}` has shape {value.shape}, expected "
                    f"{(n, *stored.shape[1:])}."
                )
        slots = (self.position + jnp.arange(n, dtype=jnp.int32)) % self.capacity

        def write(stored: Array, value: Array) -> Array:
            return stored.at[slots].set(value.astype(stored.dtype), unique_indices=True)

        return ReplayBuffer(
            capacity=self.capacity,
            observations=write(self.observations, observation),
            actions=write(self.actions, action),
            rewards=write(self.rewards, reward),
            next_observations=write(self.next_observations, next_observation),
            terminated=write(self.terminated, terminated),
            position=(self.position + n) % self.capacity,
            size=jnp.minimum(self.size + n, self.capacity),
        )

    def sample(self, batch_size: int, *, key: Key[Array, ""]) -> ReplayBatch:
        """Draw `batch_size` stored transitions uniformly, with replacement.

        Costs O(batch_size): one `jax.random.randint` over the filled slots and one
        gather per field. On an empty buffer it returns slot 0 (zeros): callers
        sample only after something was added.

        Args:
            batch_size: Number of transitions (static).
            key: PRNG key.
        """
        index = jr.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))
        return ReplayBatch(
            observation=self.observations[index],
            action=self.actions[index],
            reward=self.rewards[index],
            next_observation=self.next_observations[index],
            terminated=self.terminated[index],
        )
