"""`AbstractAlgorithm.hyperparameters` / `hyperparameter_arrays`, components included."""

import jax
import jax.numpy as jnp

from lerax.algorithm import DQN, SAC, HardUpdate, PolyakUpdate
from lerax.env import Pendulum


def test_injected_target_update_is_reported_with_its_fields():
    assert DQN(target_update=HardUpdate(every=7)).hyperparameters()["target_update/every"] == 7
    config = SAC(target_update=PolyakUpdate(0.125)).hyperparameters()
    assert config["target_update"] == "PolyakUpdate"
    assert config["target_update/tau"] == 0.125


def test_swept_tau_is_reported_per_member_as_an_array():
    def arrays(tau):
        return SAC(target_update=PolyakUpdate(tau)).hyperparameter_arrays(Pendulum())

    out = jax.vmap(arrays)(jnp.asarray([0.01, 0.02]))
    assert jnp.allclose(out["target_update/tau"], jnp.asarray([0.01, 0.02]))
    assert out["env/max_torque"].shape == (2,)
