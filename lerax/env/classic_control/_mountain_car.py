"""The discrete-action mountain car task (Gymnasium's MountainCar-v0)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, Key, UInt8

from lerax.space import Box, Discrete

from .._abstract import AbstractEnvState, AbstractTimeLimitedEnv
from ._common import check_episode_limit, make_box, parameter
from ._mountain_scene import draw_mountain_scene


class MountainCarState(AbstractEnvState):
    """State of `MountainCar`.

    Attributes:
        position: Horizontal position of the car.
        velocity: Horizontal velocity of the car.
        time: Steps taken in this episode.
    """

    position: Float[Array, ""]
    velocity: Float[Array, ""]
    time: Int[Array, ""]


class MountainCar(AbstractTimeLimitedEnv[MountainCarState]):
    """Drive an under-powered car up a hill by rocking it (push left 0, none 1, right 2).

    Same dynamics, reward (-1 per step), termination (reaching `goal_position`
    with velocity `>= goal_velocity`), reset distribution, spaces and time limit
    as Gymnasium's `MountainCar-v0`, computed in float32.

    Args:
        min_position: Left wall (hitting it stops the car).
        max_position: Right end of the track.
        max_speed: Bound on `|velocity|`.
        goal_position: Position to reach.
        goal_velocity: Minimum velocity at the goal.
        force: Acceleration of a push.
        gravity: Strength of the slope's pull.
        max_episode_steps: Steps after which the episode is truncated.
    """

    min_position: Float[Array, ""] = parameter(-1.2)
    max_position: Float[Array, ""] = parameter(0.6)
    max_speed: Float[Array, ""] = parameter(0.07)
    goal_position: Float[Array, ""] = parameter(0.5)
    goal_velocity: Float[Array, ""] = parameter(0.0)
    force: Float[Array, ""] = parameter(0.001)
    gravity: Float[Array, ""] = parameter(0.0025)
    max_episode_steps: int = eqx.field(static=True, default=200)

    def __check_init__(self):
        check_episode_limit("MountainCar", self.max_episode_steps)

    @property
    def name(self) -> str:
        return "MountainCar-v0"

    @property
    def observation_space(self) -> Box:
        return make_box(
            jnp.stack([self.min_position, -self.max_speed]),
            jnp.stack([self.max_position, self.max_speed]),
        )

    @property
    def action_space(self) -> Discrete:
        return Discrete(3)

    def reset(self, *, key: Key[Array, ""]) -> tuple[MountainCarState, Float[Array, "2"]]:
        position = jr.uniform(key, (), jnp.float32, -0.6, -0.4)
        velocity = jnp.zeros((), jnp.float32)
        state = MountainCarState(
            position=position, velocity=velocity, time=jnp.zeros((), jnp.int32)
        )
        return state, jnp.stack([position, velocity])

    def step(
        self, state: MountainCarState, action: Int[Array, ""], *, key: Key[Array, ""]
    ) -> tuple[
        MountainCarState,
        Float[Array, "2"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        del key  # deterministic
        push = (action - 1).astype(jnp.float32) * self.force
        velocity = state.velocity + (push - self.gravity * jnp.cos(3 * state.position))
        velocity = jnp.clip(velocity, -self.max_speed, self.max_speed)
        position = jnp.clip(state.position + velocity, self.min_position, self.max_position)
        velocity = jnp.where((position == self.min_position) & (velocity < 0), 0.0, velocity)
        time = state.time + 1

        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        truncated = time >= self.max_episode_steps
        new_state = MountainCarState(position=position, velocity=velocity, time=time)
        reward = jnp.full((), -1.0, jnp.float32)
        return new_state, jnp.stack([position, velocity]), reward, terminated, truncated, {}

    def render(
        self, state: MountainCarState, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        return draw_mountain_scene(
            state.position,
            min_position=self.min_position,
            max_position=self.max_position,
            goal_position=self.goal_position,
            width=width,
            height=height,
        )
