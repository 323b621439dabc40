"""`lerax.zoo`: the table of tuned defaults, `make`, and a learning run per entry."""

from __future__ import annotations

import jax
import jax.random as jr
import numpy as np
import pytest

import lerax.zoo as zoo
from lerax.algorithm import A2C, DQN, PPO, SAC, HardUpdate, PolyakUpdate
from lerax.policy import (
    GSDEActorCriticPolicy,
    GSDESACActor,
    MLPActorCriticPolicy,
    MLPQPolicy,
    MLPSACPolicy,
    evaluate_policy,
)

_CLASSES = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC}
_POLICIES = {"ppo": MLPActorCriticPolicy, "a2c": MLPActorCriticPolicy, "dqn": MLPQPolicy}


def _widest_layer(policy) -> int:
    """The largest dimension of the policy's weight matrices (its hidden width)."""
    return max(max(x.shape) for x in jax.tree.leaves(policy) if getattr(x, "ndim", 0) == 2)


def test_the_table_has_the_issue_entries_with_the_zoo_scores():
    scores = {(a, e): zoo.hyperparameters(a, e)["zoo"]["score"] for a, e in zoo.entries()}
    assert scores[("ppo", "CartPole")] == 500.0 and scores[("a2c", "CartPole")] == 500.0
    assert scores[("dqn", "Acrobot")] == -76.6 and scores[("dqn", "MountainCar")] == -100.8
    assert scores[("sac", "Pendulum")] == -157.0 and scores[("ppo", "Pendulum")] == -172.2
    assert len(scores) == 15


def test_ppo_cartpole_entry_is_the_zoo_configuration():
    entry = zoo.hyperparameters("ppo", "CartPole")
    algorithm, policy, timesteps = zoo.make("ppo", "CartPole")
    assert isinstance(algorithm, PPO) and isinstance(policy, MLPActorCriticPolicy)
    assert timesteps == entry["timesteps"] == 100_000
    assert (algorithm.num_envs, algorithm.num_steps, algorithm.num_epochs) == (8, 32, 20)
    assert algorithm.num_minibatches == 1 and algorithm.anneal_lr
    assert float(algorithm.gamma) == pytest.approx(0.98)
    assert float(algorithm.gae_lambda) == pytest.approx(0.8)
    assert float(algorithm.learning_rate) == pytest.approx(1e-3)
    assert float(algorithm.ent_coef) == 0.0
    entry["algorithm"]["num_envs"] = 1  # a copy: the table does not change
    assert zoo.hyperparameters("ppo", "CartPole")["algorithm"]["num_envs"] == 8


@pytest.mark.parametrize(("algorithm", "env"), zoo.entries())
def test_every_entry_makes_its_algorithm_and_policy(algorithm, env):
    algo, policy, timesteps = zoo.make(algorithm, env, key=jr.key(1))
    assert type(algo) is _CLASSES[algorithm]
    expected = _POLICIES.get(algorithm, MLPSACPolicy)
    if zoo.hyperparameters(algorithm, env)["policy"].get("use_sde"):
        if algorithm == "sac":
            assert type(policy.actor) is GSDESACActor
        else:
            expected = GSDEActorCriticPolicy
    assert type(policy) is expected
    assert timesteps == zoo.hyperparameters(algorithm, env)["zoo"]["timesteps"]
    assert timesteps >= algo.steps_per_iteration
    hidden = tuple(zoo.hyperparameters(algorithm, env)["policy"]["hidden"])
    assert _widest_layer(policy) == max(hidden)


def test_target_updates_and_overrides():
    dqn, policy, timesteps = zoo.make("dqn", "MountainCar", timesteps=5000, hidden=(32,))
    assert isinstance(dqn.target_update, HardUpdate) and timesteps == 5000
    assert int(dqn.target_update.every) == 300
    assert _widest_layer(policy) == 32
    sac, _, _ = zoo.make("sac", "MountainCarContinuous")
    assert isinstance(sac.target_update, PolyakUpdate) and float(
        sac.target_update.tau
    ) == pytest.approx(0.01)
    assert float(sac.alpha_learning_rate) == 0.0
    assert float(sac.initial_alpha) == pytest.approx(0.1)
    ppo, _, _ = zoo.make("ppo", "CartPole", learning_rate=3e-4)
    assert float(ppo.learning_rate) == pytest.approx(3e-4)


def test_gsde_entries_and_overrides():
    _, ppo_policy, _ = zoo.make("ppo", "MountainCarContinuous")
    assert type(ppo_policy) is GSDEActorCriticPolicy and ppo_policy.sample_freq == -1
    np.testing.assert_allclose(ppo_policy.log_std, -3.29)
    _, a2c_policy, _ = zoo.make("a2c", "MountainCarContinuous")
    assert a2c_policy.sample_freq == 16 and float(a2c_policy.log_std.max()) == 0.0
    assert zoo.make("ppo", "Pendulum")[1].sample_freq == 4
    assert type(zoo.make("ppo", "Pendulum", use_sde=False)[1]) is MLPActorCriticPolicy
    _, custom, _ = zoo.make("ppo", "Pendulum", sde_sample_freq=8, log_std_init=-1.0)
    assert custom.sample_freq == 8 and float(custom.log_std.min()) == -1.0
    gsde = [e for e in zoo.entries() if zoo.hyperparameters(*e)["policy"].get("use_sde")]
    assert gsde == [
        ("ppo", "MountainCarContinuous"),
        ("ppo", "Pendulum"),
        ("a2c", "MountainCarContinuous"),
        ("a2c", "Pendulum"),
        ("sac", "MountainCarContinuous"),
    ]
    _, sac_policy, _ = zoo.make("sac", "MountainCarContinuous")
    assert sac_policy.actor.sample_freq == -1
    np.testing.assert_allclose(sac_policy.actor.log_std, -3.67)


def test_normalised_entries_train_behind_both_layers():
    from lerax.env import MountainCar
    from lerax.env.wrapper import ENV_AXIS, NormalizeObservation, NormalizeReward

    env = zoo.training_env("ppo", "MountainCar")
    assert type(env) is NormalizeObservation and type(env.env) is NormalizeReward
    assert float(env.env.gamma) == pytest.approx(0.99) and type(env.env.env) is MountainCar
    # Statistics pooled over the training envs, as VecNormalize's, unless the entry says
    # `pool_statistics = false` (ppo MountainCar) or has one env (nothing to pool).
    assert env.axis_name is None and env.env.axis_name is None
    pooled = zoo.training_env("a2c", "Pendulum")
    assert pooled.axis_name == pooled.env.axis_name == ENV_AXIS
    own = zoo.training_env("a2c", "Pendulum", pool_statistics=False)
    assert own.axis_name is None and own.env.axis_name is None
    assert zoo.training_env("ppo", "MountainCar", pool_statistics=True).axis_name == ENV_AXIS
    assert zoo.training_env("ppo", "MountainCarContinuous").axis_name is None  # num_envs = 1
    assert float(zoo.training_env("a2c", "Pendulum").env.gamma) == pytest.approx(0.9)
    assert type(zoo.training_env("ppo", "MountainCar", normalize=False)) is MountainCar
    assert type(zoo.training_env("ppo", "CartPole")) is type(zoo.make_env("CartPole"))
    wrapped = zoo.training_env("ppo", "CartPole", normalize=True)
    assert type(wrapped) is NormalizeObservation
    _, policy, _ = zoo.make("ppo", "MountainCar")
    assert policy.observation_space == env.observation_space  # built for what it trains on
    normalised = [e for e in zoo.entries() if zoo.hyperparameters(*e).get("normalize")]
    assert normalised == [
        ("ppo", "Acrobot"),
        ("ppo", "MountainCar"),
        ("ppo", "MountainCarContinuous"),
        ("a2c", "Acrobot"),
        ("a2c", "MountainCar"),
        ("a2c", "MountainCarContinuous"),
        ("a2c", "Pendulum"),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: zoo.make("ppo", "CartPole", normalize="yes"), "normalize must be true or false"),
        (
            lambda: zoo.make("a2c", "Pendulum", pool_statistics=1),
            "pool_statistics must be true or false",
        ),
        (
            lambda: zoo.make("dqn", "CartPole", use_sde=True),
            "is for ppo, a2c and sac; dqn's actions are discrete",
        ),
        (lambda: zoo.make("ppo", "Pendulum", use_sde=1), "use_sde must be true or false"),
        (lambda: zoo.make("ppo", "CartPole", log_std_init=-1.0), "log_std_init needs use_sde"),
        (lambda: zoo.make("dqn", "Pendulum"), "accepted envs for dqn: CartPole, Acrobot"),
        (lambda: zoo.make("sac", "CartPole"), "sac needs continuous actions"),
        (lambda: zoo.make("td3", "Pendulum"), "unknown algorithm 'td3'; accepted: ppo"),
        (lambda: zoo.make("ppo", "Walker"), "unknown env 'Walker'"),
        (lambda: zoo.make("ppo", "CartPole", nope=1), "PPO has no hyper-parameter 'nope'"),
        (lambda: zoo.make("ppo", "nope:X"), "unknown adapter 'nope'"),
    ],
)
def test_errors_name_the_accepted_values(call, message):
    with pytest.raises(zoo.ZooError, match=message):
        call()


def test_adapter_envs_use_the_built_in_entry():
    pytest.importorskip("gymnax")
    algorithm, policy, timesteps = zoo.make("ppo", "gymnax:CartPole-v1")
    assert algorithm.num_envs == 8 and timesteps == 100_000
    assert zoo.hyperparameters("dqn", "gymnax:Acrobot-v1") == zoo.hyperparameters("dqn", "Acrobot")


# Thresholds: the return a trained policy clearly beats and an untrained one does not
# (random: CartPole ~22, Acrobot -500, MountainCar -200, Pendulum ~-1200). The zoo's
# scores themselves are measured over 8 seeds in benchmarks/zoo.py.
_LEARNED = {
    ("ppo", "CartPole"): 475.0,
    ("a2c", "CartPole"): 400.0,
    # SB3's DQN choices (non-double, PyTorch init): 4 of 8 seeds reach 500, the others
    # end between 21 and 245 (benchmarks/README.md); this seed ends near 160.
    ("dqn", "CartPole"): 100.0,
    ("ppo", "Acrobot"): -150.0,
    ("a2c", "Acrobot"): -150.0,
    ("dqn", "Acrobot"): -150.0,
    ("dqn", "MountainCar"): -180.0,
    ("ppo", "MountainCar"): -150.0,  # behind the normalisation layers
    ("a2c", "MountainCar"): -150.0,
    ("a2c", "MountainCarContinuous"): 50.0,  # gSDE behind the normalisation layers
    ("ppo", "Pendulum"): -600.0,
    ("sac", "Pendulum"): -400.0,
}


@pytest.mark.slow
@pytest.mark.parametrize(("algorithm", "env"), sorted(_LEARNED))
def test_each_entry_learns_with_its_defaults(algorithm, env):
    algo, policy, timesteps = zoo.make(algorithm, env, key=jr.key(0))
    training = zoo.training_env(algorithm, env)
    state = algo.train(algo.init(training, policy, timesteps, key=jr.key(1)))
    deployed = state.deployable_policy()  # with the observation statistics if normalised
    returns, _ = evaluate_policy(zoo.make_env(env), deployed, num_episodes=10, key=jr.key(2))
    assert float(np.mean(returns)) >= _LEARNED[(algorithm, env)]
