"""The cart-pole balancing task (Gymnasium's CartPole-v1)."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, Key, UInt8

from lerax.space import Box, Discrete

from .._abstract import AbstractEnvState, AbstractTimeLimitedEnv
from ..render import (
    Viewport,
    blank_canvas,
    draw_line,
    fill_circle,
    fill_polygon,
    fill_rectangle,
    to_image,
    transform_points,
)
from ._common import check_episode_limit, make_box, parameter


class CartPoleState(AbstractEnvState):
    """State of `CartPole`.

    Attributes:
        x: Cart position.
        x_dot: Cart velocity.
        theta: Pole angle from upright, positive clockwise (to the right).
        theta_dot: Pole angular velocity.
        time: Steps taken in this episode.
    """

    x: Float[Array, ""]
    x_dot: Float[Array, ""]
    theta: Float[Array, ""]
    theta_dot: Float[Array, ""]
    time: Int[Array, ""]


class CartPole(AbstractTimeLimitedEnv[CartPoleState]):
    """Balance a pole on a cart by pushing the cart left (action 0) or right (1).

    Same dynamics (explicit Euler), reward (+1 every step, the terminating one
    included), termination (`|x| > x_threshold` or `|theta| > theta_threshold`),
    reset distribution (`U(-0.05, 0.05)^4`), spaces and time limit as Gymnasium's
    `CartPole-v1`, computed in float32.

    Args:
        gravity: Gravitational acceleration.
        masscart: Cart mass.
        masspole: Pole mass.
        length: Half the pole's length.
        force_mag: Magnitude of the push.
        tau: Integration time step in seconds.
        theta_threshold: Pole angle (radians) beyond which the episode terminates.
        x_threshold: Cart position beyond which the episode terminates.
        max_episode_steps: Steps after which the episode is truncated.
    """

    gravity: Float[Array, ""] = parameter(9.8)
    masscart: Float[Array, ""] = parameter(1.0)
    masspole: Float[Array, ""] = parameter(0.1)
    length: Float[Array, ""] = parameter(0.5)
    force_mag: Float[Array, ""] = parameter(10.0)
    tau: Float[Array, ""] = parameter(0.02)
    theta_threshold: Float[Array, ""] = parameter(12 * 2 * math.pi / 360)
    x_threshold: Float[Array, ""] = parameter(2.4)
    max_episode_steps: int = eqx.field(static=True, default=500)

    def __check_init__(self):
        check_episode_limit("CartPole", self.max_episode_steps)

    @property
    def name(self) -> str:
        return "CartPole-v1"

    @property
    def observation_space(self) -> Box:
        high = jnp.stack([2 * self.x_threshold, jnp.inf, 2 * self.theta_threshold, jnp.inf]).astype(
            jnp.float32
        )
        return make_box(-high, high)

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    def reset(self, *, key: Key[Array, ""]) -> tuple[CartPoleState, Float[Array, "4"]]:
        observation = jr.uniform(key, (4,), jnp.float32, -0.05, 0.05)
        state = CartPoleState(
            x=observation[0],
            x_dot=observation[1],
            theta=observation[2],
            theta_dot=observation[3],
            time=jnp.zeros((), jnp.int32),
        )
        return state, observation

    def step(
        self, state: CartPoleState, action: Int[Array, ""], *, key: Key[Array, ""]
    ) -> tuple[
        CartPoleState,
        Float[Array, "4"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        del key  # deterministic
        force = jnp.where(action == 1, self.force_mag, -self.force_mag)
        cos, sin = jnp.cos(state.theta), jnp.sin(state.theta)
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        temp = (force + polemass_length * state.theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos**2 / total_mass)
        )
        x_acc = temp - polemass_length * theta_acc * cos / total_mass

        x = state.x + self.tau * state.x_dot
        x_dot = state.x_dot + self.tau * x_acc
        theta = state.theta + self.tau * state.theta_dot
        theta_dot = state.theta_dot + self.tau * theta_acc
        time = state.time + 1

        terminated = (jnp.abs(x) > self.x_threshold) | (jnp.abs(theta) > self.theta_threshold)
        truncated = time >= self.max_episode_steps
        observation = jnp.stack([x, x_dot, theta, theta_dot])
        new_state = CartPoleState(x=x, x_dot=x_dot, theta=theta, theta_dot=theta_dot, time=time)
        return new_state, observation, jnp.ones((), jnp.float32), terminated, truncated, {}

    def render(
        self, state: CartPoleState, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        # Gymnasium's 600 x 400 picture, in its own y-up units, fitted to the canvas.
        view = Viewport(width, height, 600.0, 400.0)
        scale = 600.0 / (2 * self.x_threshold)
        pole_width, cart_width, cart_height = 10.0, 50.0, 30.0
        pole_length = scale * 2 * self.length
        cart_x = 300.0 + scale * state.x
        cart_y = 100.0  # track height
        axle = jnp.stack([cart_x, cart_y + cart_height / 4])

        canvas = blank_canvas(width, height)
        top_left = view.to_canvas(jnp.stack([cart_x - cart_width / 2, cart_y + cart_height / 2]))
        bottom_right = view.to_canvas(
            jnp.stack([cart_x + cart_width / 2, cart_y - cart_height / 2])
        )
        canvas = fill_rectangle(
            canvas,
            left=top_left[0],
            top=top_left[1],
            right=bottom_right[0],
            bottom=bottom_right[1],
            color=(0, 0, 0),
        )
        half = pole_width / 2
        pole = jnp.stack(
            [
                jnp.array([-half, -half]),
                jnp.stack([-half, pole_length - half]),
                jnp.stack([half, pole_length - half]),
                jnp.array([half, -half]),
            ]
        )
        pole = transform_points(pole, angle=-state.theta, offset=axle)
        canvas = fill_polygon(canvas, view.to_canvas(pole), (202, 152, 101))
        canvas = fill_circle(canvas, view.to_canvas(axle), view.length(half), (129, 132, 203))
        track_y = jnp.floor(view.to_canvas(jnp.array([0.0, cart_y]))[1]) + 0.5  # crisp row
        canvas = draw_line(
            canvas,
            jnp.stack([jnp.zeros(()), track_y]),
            jnp.stack([jnp.full((), float(width)), track_y]),
            max(view.scale, 1.0),
            (0, 0, 0),
        )
        return to_image(canvas)
