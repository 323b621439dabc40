"""`episode_limit` reads `AbstractTimeLimitedEnv.max_episode_steps` through wrappers."""

from __future__ import annotations

import equinox as eqx
import pytest

from lerax.env import (
    AbstractEnv,
    AbstractTimeLimitedEnv,
    Acrobot,
    AutoReset,
    BraxEnv,
    CartPole,
    GymnasiumEnv,
    GymnaxEnv,
    MountainCar,
    MountainCarContinuous,
    NormalizeObservation,
    Pendulum,
    TimeLimit,
    episode_limit,
)


class _Stub(AbstractEnv):
    """An env whose only interest here is its class (its methods are never called)."""

    name = "stub"
    observation_space = CartPole().observation_space
    action_space = CartPole().action_space

    def reset(self, *, key):
        raise NotImplementedError

    def step(self, state, action, *, key):
        raise NotImplementedError

    def render(self, state, *, width=600, height=400):
        raise NotImplementedError


class _Limited(_Stub, AbstractTimeLimitedEnv):
    """A user env declaring its limit."""

    max_episode_steps: int | None = eqx.field(static=True)


@pytest.mark.parametrize(
    "env, limit",
    [
        (CartPole(), 500),
        (Acrobot(), 500),
        (MountainCar(), 200),
        (MountainCarContinuous(), 999),
        (Pendulum(), 200),
        (CartPole(max_episode_steps=37), 37),
    ],
)
def test_built_in_envs_declare_their_limit(env, limit):
    assert isinstance(env, AbstractTimeLimitedEnv)
    assert episode_limit(env) == limit


def test_the_smallest_limit_along_the_wrappers_wins():
    inner = CartPole(max_episode_steps=30)
    assert episode_limit(AutoReset(NormalizeObservation(TimeLimit(inner, 9)))) == 9
    assert episode_limit(AutoReset(NormalizeObservation(TimeLimit(inner, 90)))) == 30
    assert isinstance(TimeLimit(inner, 9), AbstractTimeLimitedEnv)


def test_user_envs_declare_a_limit_or_none():
    assert episode_limit(_Limited(max_episode_steps=7)) == 7
    assert episode_limit(TimeLimit(_Limited(max_episode_steps=None), 11)) == 11
    assert episode_limit(_Limited(max_episode_steps=None)) is None


def test_an_attribute_alone_is_not_a_declaration():
    """Only `AbstractTimeLimitedEnv` declares a limit: an env that is not one has none,
    whatever attributes it carries."""

    class Plain(_Stub):
        max_episode_steps = 5

    assert episode_limit(Plain()) is None
    assert episode_limit(TimeLimit(Plain(), 3)) == 3


def test_a_limited_env_must_declare_it():
    class Missing(_Stub, AbstractTimeLimitedEnv):
        pass

    with pytest.raises(TypeError, match="max_episode_steps"):
        Missing()


def test_adapters_declare_their_limit():
    pytest.importorskip("gymnax")
    assert episode_limit(GymnaxEnv("Pendulum-v1")) == 200
    assert episode_limit(GymnaxEnv("CartPole-v1", max_episode_steps=60)) == 60


def test_brax_declares_its_limit():
    pytest.importorskip("brax")
    assert episode_limit(BraxEnv("inverted_pendulum", backend="spring", max_episode_steps=40)) == 40


def test_gymnasium_limit_is_the_spec_or_none():
    gym = pytest.importorskip("gymnasium")
    from gymnasium.envs.classic_control import CartPoleEnv

    assert episode_limit(GymnasiumEnv("CartPole-v1")) == 500
    assert episode_limit(GymnasiumEnv(lambda: gym.make("CartPole-v1", max_episode_steps=25))) == 25
    unlimited = GymnasiumEnv(CartPoleEnv)  # built directly: no spec, no time limit
    assert unlimited.max_episode_steps is None and episode_limit(unlimited) is None
