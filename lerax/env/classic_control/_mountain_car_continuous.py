"""The continuous-action mountain car task (Gymnasium's MountainCarContinuous-v0)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, Key, UInt8

from lerax.space import Box

from .._abstract import AbstractEnvState, AbstractTimeLimitedEnv
from ._common import check_episode_limit, make_box, parameter
from ._mountain_scene import draw_mountain_scene


class MountainCarContinuousState(AbstractEnvState):
    """State of `MountainCarContinuous`.

    Attributes:
        position: Horizontal position of the car.
        velocity: Horizontal velocity of the car.
        time: Steps taken in this episode.
    """

    position: Float[Array, ""]
    velocity: Float[Array, ""]
    time: Int[Array, ""]


class MountainCarContinuous(AbstractTimeLimitedEnv[MountainCarContinuousState]):
    """Drive an under-powered car up a hill with a continuous force in `[-1, 1]`.

    Same dynamics (the action is clipped to `[min_action, max_action]`), reward
    (`+100` on reaching the goal, minus `0.1 * action**2` of the *unclipped*
    action, as in Gymnasium), termination, reset distribution, spaces and time
    limit as Gymnasium's `MountainCarContinuous-v0`, computed in float32.

    Args:
        min_action: Lower bound of the force.
        max_action: Upper bound of the force.
        min_position: Left wall (hitting it stops the car).
        max_position: Right end of the track.
        max_speed: Bound on `|velocity|`.
        goal_position: Position to reach.
        goal_velocity: Minimum velocity at the goal.
        power: Acceleration per unit of force.
        gravity: Strength of the slope's pull.
        max_episode_steps: Steps after which the episode is truncated.
    """

    min_action: Float[Array, ""] = parameter(-1.0)
    max_action: Float[Array, ""] = parameter(1.0)
    min_position: Float[Array, ""] = parameter(-1.2)
    max_position: Float[Array, ""] = parameter(0.6)
    max_speed: Float[Array, ""] = parameter(0.07)
    goal_position: Float[Array, ""] = parameter(0.45)
    goal_velocity: Float[Array, ""] = parameter(0.0)
    power: Float[Array, ""] = parameter(0.0015)
    gravity: Float[Array, ""] = parameter(0.0025)
    max_episode_steps: int = eqx.field(static=True, default=999)

    def __check_init__(self):
        check_episode_limit("MountainCarContinuous", self.max_episode_steps)

    @property
    def name(self) -> str:
        return "MountainCarContinuous-v0"

    @property
    def observation_space(self) -> Box:
        return make_box(
            jnp.stack([self.min_position, -self.max_speed]),
            jnp.stack([self.max_position, self.max_speed]),
        )

    @property
    def action_space(self) -> Box:
        return make_box(self.min_action[None], self.max_action[None])

    def reset(self, *, key: Key[Array, ""]) -> tuple[MountainCarContinuousState, Float[Array, "2"]]:
        position = jr.uniform(key, (), jnp.float32, -0.6, -0.4)
        velocity = jnp.zeros((), jnp.float32)
        time = jnp.zeros((), jnp.int32)
        state = MountainCarContinuousState(position=position, velocity=velocity, time=time)
        return state, jnp.stack([position, velocity])

    def step(
        self, state: MountainCarContinuousState, action: Float[Array, "1"], *, key: Key[Array, ""]
    ) -> tuple[
        MountainCarContinuousState,
        Float[Array, "2"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        del key  # deterministic
        raw_action = jnp.asarray(action, jnp.float32)[0]
        force = jnp.clip(raw_action, self.min_action, self.max_action)
        velocity = state.velocity + (
            force * self.power - self.gravity * jnp.cos(3 * state.position)
        )
        velocity = jnp.clip(velocity, -self.max_speed, self.max_speed)
        position = jnp.clip(state.position + velocity, self.min_position, self.max_position)
        velocity = jnp.where((position == self.min_position) & (velocity < 0), 0.0, velocity)
        time = state.time + 1

        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        truncated = time >= self.max_episode_steps
        reward = jnp.where(terminated, 100.0, 0.0) - 0.1 * raw_action**2
        new_state = MountainCarContinuousState(position=position, velocity=velocity, time=time)
        observation = jnp.stack([position, velocity])
        return new_state, observation, reward.astype(jnp.float32), terminated, truncated, {}

    def render(
        self, state: MountainCarContinuousState, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        return draw_mountain_scene(
            state.position,
            min_position=self.min_position,
            max_position=self.max_position,
            goal_position=self.goal_position,
            width=width,
            height=height,
        )
