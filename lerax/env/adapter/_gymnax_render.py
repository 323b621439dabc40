"""Drawing gymnax classic-control states with lerax's pure-JAX renderer."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, PyTree, UInt8

from ..classic_control import Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum
from ..classic_control._acrobot import AcrobotState
from ..classic_control._cartpole import CartPoleState
from ..classic_control._mountain_car import MountainCarState
from ..classic_control._mountain_car_continuous import MountainCarContinuousState
from ..classic_control._pendulum import PendulumState


def _cartpole(params, state):
    env = CartPole(x_threshold=params.x_threshold, length=params.length)
    return env, CartPoleState(
        x=state.x, x_dot=state.x_dot, theta=state.theta, theta_dot=state.theta_dot, time=state.time
    )


def _pendulum(params, state):
    return Pendulum(), PendulumState(
        theta=state.theta,
        theta_dot=state.theta_dot,
        last_torque=jnp.asarray(state.last_u, jnp.float32).reshape(()),
        time=state.time,
    )


def _acrobot(params, state):
    env = Acrobot(link_length_1=params.link_length_1, link_length_2=params.link_length_2)
    return env, AcrobotState(
        theta1=state.joint_angle1,
        theta2=state.joint_angle2,
        dtheta1=state.velocity_1,
        dtheta2=state.velocity_2,
        time=state.time,
    )


def _mountain_car(params, state):
    env = MountainCar(
        min_position=params.min_position,
        max_position=params.max_position,
        goal_position=params.goal_position,
    )
    return env, MountainCarState(position=state.position, velocity=state.velocity, time=state.time)


def _mountain_car_continuous(params, state):
    env = MountainCarContinuous(
        min_position=params.min_position,
        max_position=params.max_position,
        goal_position=params.goal_position,
    )
    state = MountainCarContinuousState(
        position=state.position, velocity=state.velocity, time=state.time
    )
    return env, state


# gymnax class name -> (gymnax params, gymnax state) -> (lerax env, lerax state)
_BRIDGES = {
    "CartPole": _cartpole,
    "Pendulum": _pendulum,
    "Acrobot": _acrobot,
    "MountainCar": _mountain_car,
    "ContinuousMountainCar": _mountain_car_continuous,
}


def render_gymnax(
    gymnax_env: Any, params: PyTree, state: PyTree, *, width: int, height: int
) -> UInt8[Array, "H W 3"]:
    """Draw a gymnax classic-control state as lerax draws the same task.

    Raises:
        NotImplementedError: for gymnax environments without a lerax counterpart.
    """
    module = type(gymnax_env).__module__
    bridge = _BRIDGES.get(type(gymnax_env).__name__)
    if bridge is None or not module.startswith("gymnax.environments.classic_control"):
        raise NotImplementedError(
            f"GymnaxEnv: {type(gymnax_env).__name__} has no jittable renderer; only the "
            f"classic-control tasks ({', '.join(sorted(_BRIDGES))}) can be rendered."
        )
    env, lerax_state = bridge(params, state)
    return env.render(lerax_state, width=width, height=height)
