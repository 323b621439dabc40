"""`learn`/`init`/`train` and the algorithms' constructors refuse bad arguments before
compiling, with a TypeError/ValueError that names the argument."""

from __future__ import annotations

import jax.random as jr
import pytest

from lerax.algorithm import A2C, DQN, PPO, SAC, _programs
from lerax.env import Acrobot, CartPole, Pendulum
from lerax.policy import MLPActorCriticPolicy, MLPQPolicy


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PPO(learning_rate="fast"), "PPO: `learning_rate` must be a number, got 'fast'"),
        (lambda: A2C(gamma=None), "A2C: `gamma` must be a number, got None"),
        (lambda: DQN(epsilon_end="low"), "DQN: `epsilon_end` must be a number"),
        (lambda: SAC(target_entropy="auto"), "SAC: `target_entropy` must be a number"),
        (lambda: PPO(clip_coef=[0.1, "x"]), "PPO: `clip_coef` must be a number"),
    ],
)
def test_a_hyperparameter_that_is_no_number_names_the_argument(make, message):
    with pytest.raises(TypeError, match=message):
        make()


@pytest.fixture
def no_compiling(monkeypatch):
    """Fail the test if anything reaches the compiled programs."""

    def refuse(*args, **kwargs):
        raise AssertionError("compiled before checking")

    for name in ("compiled_init", "compiled_learn"):
        monkeypatch.setattr(_programs, name, refuse)
    import lerax.algorithm._abstract as abstract

    monkeypatch.setattr(abstract, "compiled_init", refuse)
    monkeypatch.setattr(abstract, "compiled_learn", refuse)


@pytest.mark.parametrize("entry", ["learn", "init"])
def test_learn_and_init_check_key_env_and_policy_before_compiling(entry, no_compiling):
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    call = getattr(PPO(), entry)
    with pytest.raises(
        TypeError, match=rf"PPO.{entry}: `key` must be a JAX PRNG key .* got int: 0"
    ):
        call(env, policy, 512, key=0)
    with pytest.raises(TypeError, match=r"`env` must be a lerax AbstractEnv, got str \(a name\?"):
        call("CartPole-v1", policy, 512, key=jr.key(0))
    with pytest.raises(TypeError, match="`policy` must be a lerax AbstractPolicy, got dict"):
        call(env, {}, 512, key=jr.key(0))
    with pytest.raises(
        ValueError,
        match=r"`policy` was built for observation_space Box\(shape=\(4,\), float32\), but "
        r"`env` \(Acrobot-v1\) has Box\(shape=\(6,\), float32\)",
    ):
        call(Acrobot(), policy, 512, key=jr.key(0))


def test_a_policy_for_other_actions_is_refused(no_compiling):
    policy = MLPActorCriticPolicy(env=Pendulum(), key=jr.key(0))
    with pytest.raises(ValueError, match="observation_space"):
        PPO().learn(CartPole(), policy, 512, key=jr.key(0))
    q = MLPQPolicy(env=CartPole(), key=jr.key(0))
    with pytest.raises(ValueError, match=r"observation_space Box\(shape=\(4,\)"):
        DQN().learn(Acrobot(), q, 512, key=jr.key(0))
    with pytest.raises(TypeError, match="DQN.learn: `key`"):
        DQN().learn(CartPole(), q, 512, key="seed")


def test_train_checks_its_state():
    with pytest.raises(TypeError, match="PPO.train: `state` must be the TrainState"):
        PPO().train({"policy": None})


def test_old_style_keys_are_accepted(no_compiling):
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    with pytest.raises(AssertionError, match="compiled before checking"):
        PPO().learn(env, policy, 512, key=jr.PRNGKey(0))  # passes the checks
