"""Rendering of the classic-control environments."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from lerax.env import Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum
from lerax.env.classic_control import (
    AcrobotState,
    CartPoleState,
    MountainCarContinuousState,
    MountainCarState,
    PendulumState,
)

ZERO_TIME = jnp.zeros((), jnp.int32)


def _f(value):
    return jnp.asarray(value, jnp.float32)


def cartpole_state(x=0.0, theta=0.0):
    return CartPoleState(x=_f(x), x_dot=_f(0), theta=_f(theta), theta_dot=_f(0), time=ZERO_TIME)


def acrobot_state(theta1=0.0, theta2=0.0):
    return AcrobotState(
        theta1=_f(theta1), theta2=_f(theta2), dtheta1=_f(0), dtheta2=_f(0), time=ZERO_TIME
    )


def pendulum_state(theta=0.0, torque=0.0):
    return PendulumState(theta=_f(theta), theta_dot=_f(0), last_torque=_f(torque), time=ZERO_TIME)


def mountain_state(position=-0.5):
    return MountainCarState(position=_f(position), velocity=_f(0), time=ZERO_TIME)


def continuous_mountain_state(position=-0.5):
    return MountainCarContinuousState(position=_f(position), velocity=_f(0), time=ZERO_TIME)


CASES = {  # env, a state-builder taking one varying number
    "CartPole-v1": (CartPole(), lambda v: cartpole_state(x=v, theta=0.2)),
    "Acrobot-v1": (Acrobot(), lambda v: acrobot_state(theta1=v, theta2=0.7)),
    "MountainCar-v0": (MountainCar(), mountain_state),
    "MountainCarContinuous-v0": (MountainCarContinuous(), continuous_mountain_state),
    "Pendulum-v1": (Pendulum(), lambda v: pendulum_state(theta=v, torque=1.0)),
}
ENV_IDS = list(CASES)


@functools.partial(jax.jit, static_argnames=("width", "height"))
def _render_jit(env, state, *, width, height):
    return env.render(state, width=width, height=height)


def _render(env, state, width, height):
    """One compilation per env type and size, however many states are drawn."""
    return np.asarray(_render_jit(env, state, width=width, height=height))


def _centroid(image, color, tolerance=40):
    """Mean (row, column) of the pixels within `tolerance` of `color`."""
    close = np.all(np.abs(image.astype(int) - np.array(color)) <= tolerance, axis=-1)
    rows, cols = np.nonzero(close)
    assert rows.size > 0, f"no pixel of colour {color}"
    return rows.mean(), cols.mean()


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("size", [(64, 48), (40, 70)])
def test_render_shape_dtype_and_background(env_id, size):
    env, make_state = CASES[env_id]
    width, height = size
    image = _render(env, make_state(0.3), width, height)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    white = np.all(image == 255, axis=-1).mean()
    assert 0.5 < white < 0.995  # mostly background, but something is drawn


def _cart_column(image):
    """Mean column of the black cart's pixels (rows mostly black are the track)."""
    black = np.all(image < 30, axis=-1)
    black[black.mean(axis=1) > 0.5] = False
    return np.nonzero(black)[1].mean()


def test_cartpole_cart_follows_x():
    env = CartPole()
    columns = [_cart_column(_render(env, cartpole_state(x=x), 120, 80)) for x in (-1.5, 0.0, 1.5)]
    # Gymnasium draws 4.8 m of track on 600 px: 1.5 m is 187.5 px there, 37.5 px at 120 px.
    assert columns[1] == pytest.approx(60.0, abs=1.0)
    assert columns[2] - columns[1] == pytest.approx(37.5, abs=1.0)
    assert columns[1] - columns[0] == pytest.approx(37.5, abs=1.0)


def test_cartpole_pole_leans_with_theta():
    env = CartPole()
    pole = (202, 152, 101)
    left = _centroid(_render(env, cartpole_state(theta=-0.4), 120, 80), pole)
    right = _centroid(_render(env, cartpole_state(theta=0.4), 120, 80), pole)
    upright = _centroid(_render(env, cartpole_state(theta=0.0), 120, 80), pole)
    assert left[1] < upright[1] < right[1]
    # The track is at row 60 (y = 100 of 400); the 25 px pole stands above it.
    assert 44 < upright[0] < 50 and upright[1] == pytest.approx(60.0, abs=1.0)


@pytest.mark.parametrize(
    "theta, direction",
    [(0.0, (-1, 0)), (np.pi, (1, 0)), (np.pi / 2, (0, -1)), (-np.pi / 2, (0, 1))],
)
def test_pendulum_rod_points_along_theta(theta, direction):
    image = _render(Pendulum(), pendulum_state(theta=theta), 100, 100)
    row, col = _centroid(image, (204, 77, 77), tolerance=10)
    d_row, d_col = row - 49.5, col - 49.5
    assert np.sign(np.round(d_row / 5)) == direction[0]  # (up = -1 row, left = -1 column)
    assert np.sign(np.round(d_col / 5)) == direction[1]


def test_pendulum_torque_arrow_appears_with_torque():
    env = Pendulum()
    dark = [
        np.sum(np.all(_render(env, pendulum_state(torque=t), 200, 200) < 100, axis=-1))
        for t in (0.0, 2.0)
    ]
    assert dark[1] > dark[0] + 50


def test_acrobot_links_hang_down_or_stand_up():
    env = Acrobot()
    cyan = (0, 204, 204)
    hanging = _centroid(_render(env, acrobot_state(0.0, 0.0), 100, 100), cyan)
    standing = _centroid(_render(env, acrobot_state(np.pi, 0.0), 100, 100), cyan)
    assert hanging[0] > 60 and standing[0] < 40
    assert hanging[1] == pytest.approx(49.5, abs=2) and standing[1] == pytest.approx(49.5, abs=2)


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "MountainCarContinuous-v0"])
def test_mountain_car_wheels_follow_position(env_id):
    env, make_state = CASES[env_id]
    wheels = (128, 128, 128)
    left = _centroid(_render(env, make_state(-1.0), 120, 80), wheels, tolerance=20)
    valley = _centroid(_render(env, make_state(-0.5), 120, 80), wheels, tolerance=20)
    right = _centroid(_render(env, make_state(0.4), 120, 80), wheels, tolerance=20)
    assert left[1] < valley[1] < right[1]
    assert valley[0] > left[0] and valley[0] > right[0]  # the valley is lower on screen


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_vmaps_over_states_and_round_trips_through_png(env_id, tmp_path):
    env, make_state = CASES[env_id]
    values = jnp.array([-0.8, 0.1, 0.5])
    states = jax.vmap(make_state)(values)
    frames = np.asarray(jax.jit(jax.vmap(lambda s: env.render(s, width=48, height=36)))(states))
    assert frames.shape == (3, 36, 48, 3)
    for i, value in enumerate(values):
        np.testing.assert_array_equal(frames[i], _render(env, make_state(value), 48, 36))
    assert not np.array_equal(frames[0], frames[2])

    path = tmp_path / f"{env_id}.png"
    Image.fromarray(frames[1]).save(path)
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), frames[1])
