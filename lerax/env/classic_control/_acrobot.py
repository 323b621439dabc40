"""The acrobot swing-up task (Gymnasium's Acrobot-v1)."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, Key, UInt8

from lerax.space import Box, Discrete

from .._abstract import AbstractEnvState, AbstractTimeLimitedEnv
from ..render import Viewport, blank_canvas, draw_line, fill_circle, fill_polygon, to_image
from ._common import check_episode_limit, make_box, parameter


def _wrap_to_pi(angle: Float[Array, ""]) -> Float[Array, ""]:
    """Shift `angle` by whole turns into `[-pi, pi]`, leaving values already there untouched."""
    turn = 2 * jnp.pi
    turns = jnp.maximum(jnp.ceil((angle - jnp.pi) / turn), 0.0) + jnp.minimum(
        jnp.floor((angle + jnp.pi) / turn), 0.0
    )
    return angle - turns * turn


class AcrobotState(AbstractEnvState):
    """State of `Acrobot`.

    Attributes:
        theta1: Angle of the first link from hanging straight down, in `[-pi, pi]`.
        theta2: Angle of the second link relative to the first, in `[-pi, pi]`.
        dtheta1: Angular velocity of the first joint.
        dtheta2: Angular velocity of the second joint.
        time: Steps taken in this episode.
    """

    theta1: Float[Array, ""]
    theta2: Float[Array, ""]
    dtheta1: Float[Array, ""]
    dtheta2: Float[Array, ""]
    time: Int[Array, ""]


class Acrobot(AbstractTimeLimitedEnv[AcrobotState]):
    """Swing the tip of a two-link pendulum above a line by torquing the middle joint.

    Actions `0, 1, 2` apply torque `-1, 0, +1`. Same dynamics (the "book" equations,
    one RK4 step of `dt`), angle wrapping, velocity clipping, reward (-1 per step,
    0 on the terminating one), termination (`-cos(t1) - cos(t1 + t2) > 1`), reset
    distribution (`U(-0.1, 0.1)^4`), spaces and time limit as Gymnasium's
    `Acrobot-v1`, computed in float32.

    Args:
        link_length_1: Length of the first link.
        link_length_2: Length of the second link.
        link_mass_1: Mass of the first link.
        link_mass_2: Mass of the second link.
        link_com_pos_1: Position of the first link's centre of mass.
        link_com_pos_2: Position of the second link's centre of mass.
        link_moi: Moment of inertia of both links.
        max_vel_1: Bound on `|dtheta1|`.
        max_vel_2: Bound on `|dtheta2|`.
        gravity: Gravitational acceleration.
        dt: Integration time step in seconds.
        torque_noise_max: Uniform noise in `[-max, max]` added to the torque.
        max_episode_steps: Steps after which the episode is truncated.
    """

    link_length_1: Float[Array, ""] = parameter(1.0)
    link_length_2: Float[Array, ""] = parameter(1.0)
    link_mass_1: Float[Array, ""] = parameter(1.0)
    link_mass_2: Float[Array, ""] = parameter(1.0)
    link_com_pos_1: Float[Array, ""] = parameter(0.5)
    link_com_pos_2: Float[Array, ""] = parameter(0.5)
    link_moi: Float[Array, ""] = parameter(1.0)
    max_vel_1: Float[Array, ""] = parameter(4 * math.pi)
    max_vel_2: Float[Array, ""] = parameter(9 * math.pi)
    gravity: Float[Array, ""] = parameter(9.8)
    dt: Float[Array, ""] = parameter(0.2)
    torque_noise_max: Float[Array, ""] = parameter(0.0)
    max_episode_steps: int = eqx.field(static=True, default=500)

    def __check_init__(self):
        check_episode_limit("Acrobot", self.max_episode_steps)

    @property
    def name(self) -> str:
        return "Acrobot-v1"

    @property
    def observation_space(self) -> Box:
        one = jnp.ones((), jnp.float32)
        high = jnp.stack([one, one, one, one, self.max_vel_1, self.max_vel_2])
        return make_box(-high, high)

    @property
    def action_space(self) -> Discrete:
        return Discrete(3)

    def _observation(self, state: AcrobotState) -> Float[Array, "6"]:
        return jnp.stack(
            [
                jnp.cos(state.theta1),
                jnp.sin(state.theta1),
                jnp.cos(state.theta2),
                jnp.sin(state.theta2),
                state.dtheta1,
                state.dtheta2,
            ]
        )

    def reset(self, *, key: Key[Array, ""]) -> tuple[AcrobotState, Float[Array, "6"]]:
        values = jr.uniform(key, (4,), jnp.float32, -0.1, 0.1)
        state = AcrobotState(
            theta1=values[0],
            theta2=values[1],
            dtheta1=values[2],
            dtheta2=values[3],
            time=jnp.zeros((), jnp.int32),
        )
        return state, self._observation(state)

    def _derivatives(self, y: Float[Array, "4"], torque: Float[Array, ""]) -> Float[Array, "4"]:
        theta1, theta2, dtheta1, dtheta2 = y[0], y[1], y[2], y[3]
        m1, m2 = self.link_mass_1, self.link_mass_2
        l1, lc1, lc2 = self.link_length_1, self.link_com_pos_1, self.link_com_pos_2
        inertia, g = self.link_moi, self.gravity
        cos2, sin2 = jnp.cos(theta2), jnp.sin(theta2)
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + 2 * inertia
        d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + inertia
        # cos(a - pi / 2) == sin(a)
        phi2 = m2 * lc2 * g * jnp.sin(theta1 + theta2)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * sin2
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
            + (m1 * lc1 + m2 * l1) * g * jnp.sin(theta1)
            + phi2
        )
        ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin2 - phi2) / (
            m2 * lc2**2 + inertia - d2**2 / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])

    def step(
        self, state: AcrobotState, action: Int[Array, ""], *, key: Key[Array, ""]
    ) -> tuple[
        AcrobotState,
        Float[Array, "6"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        noise = jr.uniform(key, (), jnp.float32, -self.torque_noise_max, self.torque_noise_max)
        torque = action.astype(jnp.float32) - 1.0 + noise
        y = jnp.stack([state.theta1, state.theta2, state.dtheta1, state.dtheta2])
        # One classical Runge-Kutta step over [0, dt].
        k1 = self._derivatives(y, torque)
        k2 = self._derivatives(y + self.dt / 2 * k1, torque)
        k3 = self._derivatives(y + self.dt / 2 * k2, torque)
        k4 = self._derivatives(y + self.dt * k3, torque)
        y = y + self.dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)

        new_state = AcrobotState(
            theta1=_wrap_to_pi(y[0]),
            theta2=_wrap_to_pi(y[1]),
            dtheta1=jnp.clip(y[2], -self.max_vel_1, self.max_vel_1),
            dtheta2=jnp.clip(y[3], -self.max_vel_2, self.max_vel_2),
            time=state.time + 1,
        )
        terminated = -jnp.cos(new_state.theta1) - jnp.cos(new_state.theta1 + new_state.theta2) > 1.0
        reward = jnp.where(terminated, 0.0, -1.0).astype(jnp.float32)
        truncated = new_state.time >= self.max_episode_steps
        return new_state, self._observation(new_state), reward, terminated, truncated, {}

    def render(
        self, state: AcrobotState, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        # Gymnasium's 500 x 500 picture (origin at the centre), fitted to the canvas.
        view = Viewport(width, height, 500.0, 500.0)
        bound = self.link_length_1 + self.link_length_2 + 0.2
        scale = 500.0 / (2 * bound)
        centre = jnp.full((2,), 250.0)

        canvas = blank_canvas(width, height)
        # The line the tip must rise above, snapped to a pixel row so it stays crisp.
        goal = view.to_canvas(
            centre + jnp.stack([jnp.stack([-bound, bound]) * scale, jnp.full(2, scale)], 1)
        )
        goal = goal.at[:, 1].set(jnp.floor(goal[:, 1]) + 0.5)
        canvas = draw_line(canvas, goal[0], goal[1], max(view.scale, 1.0), (0, 0, 0))
        elbow = centre + scale * self.link_length_1 * jnp.stack(
            [jnp.sin(state.theta1), -jnp.cos(state.theta1)]
        )
        links = (
            (centre, state.theta1, self.link_length_1),
            (elbow, state.theta1 + state.theta2, self.link_length_2),
        )
        half_width = 0.1 * scale
        for base, angle, length in links:
            along = jnp.stack([jnp.sin(angle), -jnp.cos(angle)])
            across = jnp.stack([-along[1], along[0]]) * half_width
            tip = base + scale * length * along
            corners = jnp.stack([base - across, base + across, tip + across, tip - across])
            canvas = fill_polygon(canvas, view.to_canvas(corners), (0, 204, 204))
            canvas = fill_circle(
                canvas, view.to_canvas(base), view.length(half_width), (204, 204, 0)
            )
        return to_image(canvas)
