"""The inverted pendulum swing-up task (Gymnasium's Pendulum-v1)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, Key, UInt8

from lerax.space import Box

from .._abstract import AbstractEnvState, AbstractTimeLimitedEnv
from ..render import (
    Viewport,
    blank_canvas,
    draw_arc,
    fill_circle,
    fill_polygon,
    to_image,
    transform_points,
)
from ._common import check_episode_limit, make_box, parameter


def _normalize_angle(angle: Float[Array, ""]) -> Float[Array, ""]:
    """Map an angle into `[-pi, pi)`."""
    return jnp.mod(angle + jnp.pi, 2 * jnp.pi) - jnp.pi


class PendulumState(AbstractEnvState):
    """State of `Pendulum`.

    Attributes:
        theta: Angle from upright, counter-clockwise (not wrapped).
        theta_dot: Angular velocity.
        last_torque: The clipped torque of the last step (0 after reset); drawn
            as an arrow by `render`.
        time: Steps taken in this episode.
    """

    theta: Float[Array, ""]
    theta_dot: Float[Array, ""]
    last_torque: Float[Array, ""]
    time: Int[Array, ""]


class Pendulum(AbstractTimeLimitedEnv[PendulumState]):
    """Swing a pendulum up and keep it upright with a bounded torque.

    Same dynamics (semi-implicit Euler with speed clipping), reward
    (`-(angle**2 + 0.1 * theta_dot**2 + 0.001 * torque**2)`), no termination,
    reset distribution (`theta ~ U(-pi, pi)`, `theta_dot ~ U(-1, 1)`), spaces and
    time limit as Gymnasium's `Pendulum-v1`, computed in float32. Actions are
    clipped to `[-max_torque, max_torque]`.

    Args:
        max_speed: Bound on `|theta_dot|`.
        max_torque: Bound on the torque.
        dt: Integration time step in seconds.
        g: Gravitational acceleration.
        m: Mass of the pendulum.
        l: Length of the pendulum.
        max_episode_steps: Steps after which the episode is truncated.
    """

    max_speed: Float[Array, ""] = parameter(8.0)
    max_torque: Float[Array, ""] = parameter(2.0)
    dt: Float[Array, ""] = parameter(0.05)
    g: Float[Array, ""] = parameter(10.0)
    m: Float[Array, ""] = parameter(1.0)
    l: Float[Array, ""] = parameter(1.0)  # noqa: E741 (Gymnasium's name)
    max_episode_steps: int = eqx.field(static=True, default=200)

    def __check_init__(self):
        check_episode_limit("Pendulum", self.max_episode_steps)

    @property
    def name(self) -> str:
        return "Pendulum-v1"

    @property
    def observation_space(self) -> Box:
        one = jnp.ones((), jnp.float32)
        high = jnp.stack([one, one, self.max_speed])
        return make_box(-high, high)

    @property
    def action_space(self) -> Box:
        return make_box(-self.max_torque[None], self.max_torque[None])

    def _observation(self, state: PendulumState) -> Float[Array, "3"]:
        return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot])

    def reset(self, *, key: Key[Array, ""]) -> tuple[PendulumState, Float[Array, "3"]]:
        high = jnp.array([jnp.pi, 1.0], jnp.float32)
        values = jr.uniform(key, (2,), jnp.float32, -high, high)
        state = PendulumState(
            theta=values[0],
            theta_dot=values[1],
            last_torque=jnp.zeros((), jnp.float32),
            time=jnp.zeros((), jnp.int32),
        )
        return state, self._observation(state)

    def step(
        self, state: PendulumState, action: Float[Array, "1"], *, key: Key[Array, ""]
    ) -> tuple[
        PendulumState,
        Float[Array, "3"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        del key  # deterministic
        torque = jnp.clip(jnp.asarray(action, jnp.float32)[0], -self.max_torque, self.max_torque)
        theta, theta_dot = state.theta, state.theta_dot
        cost = _normalize_angle(theta) ** 2 + 0.1 * theta_dot**2 + 0.001 * torque**2

        angular_acc = (
            3 * self.g / (2 * self.l) * jnp.sin(theta) + 3.0 / (self.m * self.l**2) * torque
        )
        new_theta_dot = jnp.clip(theta_dot + angular_acc * self.dt, -self.max_speed, self.max_speed)
        new_state = PendulumState(
            theta=theta + new_theta_dot * self.dt,
            theta_dot=new_theta_dot,
            last_torque=torque,
            time=state.time + 1,
        )
        terminated = jnp.zeros((), bool)
        truncated = new_state.time >= self.max_episode_steps
        return new_state, self._observation(new_state), -cost, terminated, truncated, {}

    def render(
        self, state: PendulumState, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        # Gymnasium's 500 x 500 picture (pivot at the centre), fitted to the canvas.
        view = Viewport(width, height, 500.0, 500.0)
        scale = 500.0 / 4.4
        pivot = jnp.full((2,), 250.0)
        rod_length, rod_width = scale * self.l, 0.2 * scale
        red = (204, 77, 77)

        canvas = blank_canvas(width, height)
        rod = jnp.stack(
            [
                jnp.array([0.0, -rod_width / 2]),
                jnp.array([0.0, rod_width / 2]),
                jnp.stack([rod_length, jnp.asarray(rod_width / 2)]),
                jnp.stack([rod_length, jnp.asarray(-rod_width / 2)]),
            ]
        )
        angle = state.theta + jnp.pi / 2
        canvas = fill_polygon(
            canvas, view.to_canvas(transform_points(rod, angle=angle, offset=pivot)), red
        )
        tip = pivot + rod_length * jnp.stack([jnp.cos(angle), jnp.sin(angle)])
        for end in (pivot, tip):
            canvas = fill_circle(canvas, view.to_canvas(end), view.length(rod_width / 2), red)

        # Torque arrow: a 3/4 circle of radius ~ |torque| (counter-clockwise for torque > 0),
        # with a head at its leading end; it vanishes when the torque is 0.
        radius = view.length(0.22 * scale * jnp.abs(state.last_torque))
        direction = jnp.where(state.last_torque >= 0, 1.0, -1.0)
        start = jnp.pi / 2
        end = start + direction * 1.5 * jnp.pi
        centre = view.to_canvas(pivot)
        thickness = 0.07 * radius
        canvas = draw_arc(canvas, centre, radius, start, end, thickness, (0, 0, 0))
        head_size = 0.3 * radius
        ahead = direction * jnp.stack([-jnp.sin(end), -jnp.cos(end)])  # tangent, y-down
        outward = jnp.stack([jnp.cos(end), -jnp.sin(end)])
        end_point = centre + radius * outward
        head = jnp.stack(
            [
                end_point + head_size * ahead,
                end_point - 0.5 * head_size * ahead + 0.5 * head_size * outward,
                end_point - 0.5 * head_size * ahead - 0.5 * head_size * outward,
            ]
        )
        canvas = fill_polygon(canvas, head, (0, 0, 0))

        canvas = fill_circle(canvas, centre, view.length(0.05 * scale), (0, 0, 0))
        return to_image(canvas)
