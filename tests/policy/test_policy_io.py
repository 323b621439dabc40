"""save_policy / load_policy round trips (bitwise) and their structure checks, and
the export of a policy to a plain (and a serialised) inference function."""

from __future__ import annotations

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import lerax
from lerax import checkpoint
from lerax.algorithm import PPO
from lerax.callback import EvalCallback
from lerax.checkpoint import CheckpointError
from lerax.env import CartPole, Pendulum
from lerax.policy import (
    MLPActorCriticPolicy,
    MLPQPolicy,
    MLPSACPolicy,
    deserialize_inference,
    export_inference,
    load_policy,
    save_policy,
    serialize_inference,
)

CASES = {
    "actor_critic_discrete": (MLPActorCriticPolicy, CartPole),
    "actor_critic_box": (MLPActorCriticPolicy, Pendulum),
    "q": (MLPQPolicy, CartPole),
    "sac": (MLPSACPolicy, Pendulum),
}


def _make(name, key=1, **kwargs):
    cls, env_cls = CASES[name]
    env = env_cls()
    return cls(env, key=jr.key(key), hidden=kwargs.pop("hidden", (8, 8)), **kwargs), env


def _observations(env, n=6):
    return jax.vmap(lambda k: env.observation_space.sample(key=k))(jr.split(jr.key(9), n))


def _outputs(policy, obs):
    """Everything a policy computes, for a bitwise comparison."""
    keys = jr.split(jr.key(5), obs.shape[0])
    out = {
        "greedy": jax.vmap(policy.predict)(obs),
        "sampled": jax.vmap(lambda o, k: policy.predict(o, key=k))(obs, keys),
    }
    if isinstance(policy, MLPActorCriticPolicy):
        out["value"] = jax.vmap(policy.value)(obs)
        out["log_prob"] = jax.vmap(lambda o, a: policy.distribution(o).log_prob(a))(
            obs, out["sampled"]
        )
    if isinstance(policy, MLPQPolicy):
        out["q"] = jax.vmap(policy.q_values)(obs)
    if isinstance(policy, MLPSACPolicy):
        out["q"] = jax.vmap(policy.q_values)(obs, out["sampled"])
    return out


def _assert_bitwise(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_is_bitwise(tmp_path, name):
    policy, env = _make(name)
    save_policy(tmp_path / "p", policy)
    for loaded in (load_policy(tmp_path / "p"), load_policy(tmp_path / "p", like=policy)):
        assert type(loaded) is type(policy)
        _assert_bitwise(loaded, policy)
        obs = _observations(env)
        _assert_bitwise(_outputs(loaded, obs), _outputs(policy, obs))
    assert isinstance(load_policy(tmp_path / "p", like=type(policy)), type(policy))
    meta = checkpoint.read_metadata(tmp_path / "p")
    assert meta["kind"] == "policy"
    assert meta["policy_class"] == f"{type(policy).__module__}.{type(policy).__name__}"


def test_top_level_names_and_metadata(tmp_path):
    policy, _ = _make("q")
    assert lerax.save_policy is save_policy and lerax.load_policy is load_policy
    lerax.save_policy(tmp_path / "p", policy, metadata={"return": 500.0})
    assert checkpoint.read_metadata(tmp_path / "p")["return"] == 500.0
    loaded = lerax.load_policy(tmp_path / "p", like=policy)
    assert float(loaded.epsilon) == pytest.approx(0.05)


def test_trained_policy_and_a_training_checkpoint(tmp_path):
    env = CartPole()
    algo = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
    policy = MLPActorCriticPolicy(env, key=jr.key(0), hidden=(8,))
    state = algo.init(env, policy, 64, key=jr.key(1))
    state = algo.train(state)
    trained = state.policy
    save_policy(tmp_path / "policy", trained)
    _assert_bitwise(load_policy(tmp_path / "policy", like=policy), trained)
    # The policy of a full training checkpoint loads the same way.
    checkpoint.save(tmp_path / "run", state)
    _assert_bitwise(load_policy(tmp_path / "run", like=policy), trained)


def test_the_policy_of_a_training_checkpoint_whose_callback_states_changed(
    tmp_path, as_saved_by_an_older_version
):
    """`load_policy` reads only the policy of a training checkpoint: a callback state
    saved by another lerax version (here: EvalCallbackState without `lines`) stops
    `checkpoint.load`, with the class and fields named, but not `load_policy`."""
    env = CartPole()
    algo = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
    policy = MLPActorCriticPolicy(env, key=jr.key(0), hidden=(8,))
    callbacks = [EvalCallback(env, every=1, num_episodes=2)]
    state = algo.init(env, policy, 64, key=jr.key(1), callback=callbacks)
    state = algo.train(state, callback=callbacks)
    checkpoint.save(tmp_path / "run", state)
    as_saved_by_an_older_version(tmp_path / "run", ":EvalCallbackState", "lines")
    with pytest.raises(CheckpointError, match=r"EvalCallbackState has fields .*another version"):
        checkpoint.load(tmp_path / "run")
    _assert_bitwise(load_policy(tmp_path / "run"), state.policy)
    _assert_bitwise(load_policy(tmp_path / "run", like=policy), state.policy)
    with pytest.raises(CheckpointError, match="MLPQPolicy"):
        load_policy(tmp_path / "run", like=MLPQPolicy)


def test_overwriting_a_policy_file(tmp_path):
    first, _ = _make("q", key=1)
    second, _ = _make("q", key=2)
    save_policy(tmp_path / "p", first)
    save_policy(tmp_path / "p", second)
    _assert_bitwise(load_policy(tmp_path / "p", like=first), second)


# ----------------------------------------------------------------- mismatches


def test_wrong_class_is_named(tmp_path):
    q, _ = _make("q")
    ac, _ = _make("actor_critic_discrete")
    save_policy(tmp_path / "p", q)
    with pytest.raises(
        ValueError, match="holds a MLPQPolicy, but `like` is a MLPActorCriticPolicy"
    ):
        load_policy(tmp_path / "p", like=ac)
    with pytest.raises(ValueError, match="holds a MLPQPolicy, expected a MLPSACPolicy"):
        load_policy(tmp_path / "p", like=MLPSACPolicy)


def test_wrong_shapes_name_the_leaf(tmp_path):
    small, _ = _make("actor_critic_discrete", hidden=(8, 8))
    wide, _ = _make("actor_critic_discrete", hidden=(16, 8))
    save_policy(tmp_path / "p", small)
    with pytest.raises(
        CheckpointError,
        match=r"lerax.load_policy: cannot load '.*p': it does not match `like` at "
        r"`\.actor\.layers\[0\]\.kernel`: the file has float32\[4, 8\], `like` has "
        r"float32\[4, 16\]",
    ):
        load_policy(tmp_path / "p", like=wide)


def test_wrong_depth_names_the_missing_layers(tmp_path):
    shallow, _ = _make("sac", hidden=(8,))
    deep, _ = _make("sac", hidden=(8, 8))
    save_policy(tmp_path / "p", shallow)
    with pytest.raises(
        CheckpointError,
        match=r"at `\.actor\.network\.layers`: the file has 2 items \(Dense, Dense\), `like` "
        r"has 3 items \(Dense, Dense, Dense\)",
    ):
        load_policy(tmp_path / "p", like=deep)


def test_wrong_static_configuration_is_named(tmp_path):
    tanh, _ = _make("actor_critic_discrete")
    relu, _ = _make("actor_critic_discrete", activation=jax.nn.relu)
    save_policy(tmp_path / "p", tanh)
    with pytest.raises(
        CheckpointError, match=r"at `\.actor\.activation`: the file has tanh, `like` has relu"
    ):
        load_policy(tmp_path / "p", like=relu)


def test_wrong_spaces_are_named(tmp_path):
    policy, _ = _make("actor_critic_discrete")
    other = MLPActorCriticPolicy(CartPole(x_threshold=3.0), key=jr.key(1), hidden=(8, 8))
    save_policy(tmp_path / "p", policy)
    # The observation bounds are arrays of the same shape: same structure, so it loads ...
    load_policy(tmp_path / "p", like=other)
    # ... but a different action space is a structural difference.
    box_env = Pendulum()
    box = MLPActorCriticPolicy(box_env, key=jr.key(1), hidden=(8, 8))
    with pytest.raises(ValueError, match="lerax.load_policy"):
        load_policy(tmp_path / "p", like=box)


def test_shape_only_template(tmp_path):
    policy, env = _make("sac")
    save_policy(tmp_path / "p", policy)
    other = MLPSACPolicy(env, key=jr.key(3), hidden=(8, 8))
    template = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if eqx.is_array(x) else x, other
    )
    _assert_bitwise(load_policy(tmp_path / "p", like=template), policy)


def _corrupt_garbage(file):
    file.write_bytes(b"this is not a zip file" * 10)


def _corrupt_truncate(file):
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def _corrupt_flip(file):
    data = bytearray(file.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(255 - b for b in data[middle : middle + 16])
    file.write_bytes(bytes(data))


@pytest.mark.parametrize("corrupt", [_corrupt_garbage, _corrupt_truncate, _corrupt_flip])
def test_corrupt_files_raise_value_error(tmp_path, corrupt):
    policy, _ = _make("actor_critic_box", hidden=(64, 64))
    save_policy(tmp_path / "p", policy)
    corrupt(tmp_path / "p" / "checkpoint.npz")
    with pytest.raises(CheckpointError, match=r"lerax.load_policy: cannot load '.*p': the file"):
        load_policy(tmp_path / "p", like=policy)


def test_missing_file_and_non_policy_content(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint there"):
        load_policy(tmp_path / "nothing")
    checkpoint.save(tmp_path / "d", {"a": jnp.zeros(3)})
    with pytest.raises(ValueError, match="holds a dict, not a policy"):
        load_policy(tmp_path / "d")


def _lambda_activation(x):
    return x


def test_bad_arguments_to_save_policy(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="AbstractPolicy"):
        save_policy(tmp_path / "p", {"weights": jnp.zeros(3)})
    env = CartPole()
    local = MLPActorCriticPolicy(env, key=jr.key(0), hidden=(4,), activation=lambda x: x)
    with pytest.raises(TypeError, match=r"cannot record `\.actor\.activation`"):
        save_policy(tmp_path / "p", local)
    assert not (tmp_path / "p").exists()
    policy, _ = _make("q")
    with pytest.raises(TypeError, match="outside jit"):
        jax.jit(lambda p: save_policy(tmp_path / "p", p))(policy)
    # A module-level function is saved; it loads when the user names it (a template or
    # a registration), never from the file alone.
    named = MLPActorCriticPolicy(env, key=jr.key(0), hidden=(4,), activation=_lambda_activation)
    save_policy(tmp_path / "p", named)
    with pytest.raises(
        CheckpointError,
        match=r"`\.actor\.activation` is `.*test_policy_io:_lambda_activation`, which is not "
        r"a lerax, equinox, jax or optax function",
    ):
        load_policy(tmp_path / "p")
    assert load_policy(tmp_path / "p", like=named).actor.activation is _lambda_activation
    monkeypatch.setattr(checkpoint._structure, "_REGISTRY", {})
    assert checkpoint.register(_lambda_activation) is _lambda_activation
    assert load_policy(tmp_path / "p").actor.activation is _lambda_activation


# ----------------------------------------------------------------- inference export


@pytest.mark.parametrize("name", list(CASES))
def test_export_inference_matches_predict(name):
    policy, env = _make(name)
    obs = _observations(env)
    act = export_inference(policy)
    want = jax.jit(jax.vmap(policy.predict))(obs)
    got = act(obs)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # one observation, and nested batch axes
    np.testing.assert_allclose(act(obs[0]), want[0], rtol=1e-6, atol=1e-7)
    nested = act(obs.reshape(2, 3, *obs.shape[1:]))
    np.testing.assert_allclose(nested.reshape(want.shape), want, rtol=1e-6, atol=1e-7)
    # the function is pure: same input, same output
    np.testing.assert_array_equal(act(obs), got)


def test_export_inference_sampled():
    policy, env = _make("actor_critic_box")
    obs = _observations(env)
    act = export_inference(policy, deterministic=False)
    key = jr.key(11)
    np.testing.assert_allclose(act(obs[0], key), policy.predict(obs[0], key=key), rtol=1e-6)
    batch = act(obs, key)
    want = jax.vmap(lambda o, k: policy.predict(o, key=k))(obs, jr.split(key, obs.shape[0]))
    np.testing.assert_allclose(batch, want, rtol=1e-6)
    assert not np.allclose(act(obs, jr.key(12)), batch)


def test_export_inference_of_discrete_greedy_actions_is_exact():
    policy, env = _make("q")
    obs = _observations(env, n=50)
    np.testing.assert_array_equal(export_inference(policy)(obs), jax.vmap(policy.predict)(obs))


def test_export_inference_refuses_bad_input():
    policy, _ = _make("actor_critic_discrete")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        export_inference(policy)(jnp.zeros((3, 5)))
    with pytest.raises(TypeError, match="AbstractPolicy"):
        export_inference("policy")
    with pytest.raises(TypeError, match="deterministic"):
        export_inference(policy, deterministic=1)


@pytest.mark.parametrize("name", list(CASES))
def test_serialized_inference_round_trip(tmp_path, name):
    policy, env = _make(name)
    data = serialize_inference(policy)
    (tmp_path / "policy.bin").write_bytes(bytes(data))
    act = deserialize_inference((tmp_path / "policy.bin").read_bytes())
    direct = export_inference(policy)
    for n in (1, 7):
        obs = _observations(env, n)
        np.testing.assert_allclose(act(obs), direct(obs), rtol=1e-6, atol=1e-7)
    assert os.path.getsize(tmp_path / "policy.bin") > 0
