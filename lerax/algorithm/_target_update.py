"""Target networks as an injected component: hard copies or Polyak averaging."""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PyTree

from lerax._checks import as_hyperparameter, check_int, check_range


class AbstractTargetUpdate(eqx.Module):
    """How an off-policy algorithm moves its target network towards the online one.

    An algorithm holds one of these (e.g. `DQN(target_update=HardUpdate(every=50))`)
    and calls it after every gradient step, so the schedule is swapped by plugging
    another component, not by subclassing the algorithm.
    """

    @abc.abstractmethod
    def __call__(self, online: PyTree, target: PyTree, num_updates: Int[Array, ""]) -> PyTree:
        """The new target network.

        Only inexact (floating) array leaves are updated; every other leaf is taken
        from `target` unchanged.

        Args:
            online: The network being trained.
            target: The target network (same structure as `online`).
            num_updates: Gradient steps taken so far, counting the one just taken
                (1 after the first gradient step).

        Returns:
            The updated target network, same structure and dtypes as `target`.
        """


def _blend(online: PyTree, target: PyTree, fn) -> PyTree:
    return jax.tree.map(
        lambda o, t: fn(o, t).astype(t.dtype) if eqx.is_inexact_array(t) else t, online, target
    )


class HardUpdate(AbstractTargetUpdate):
    """Copy the online network into the target every `every` GRADIENT steps.

    The counter is gradient steps, not env steps: with `train_freq=10` and
    `gradient_steps=1`, `every=50` copies every 500 env steps (CleanRL's
    `target_network_frequency=500`). The copy happens after gradient steps
    `every, 2 * every, ...`. Under `vmap` it is a select (`jnp.where`), not a branch.

    Args:
        every: Gradient steps between copies (an int >= 1; 1 copies after every step).
    """

    every: int = eqx.field(static=True)

    def __check_init__(self):
        check_int("HardUpdate", "every", self.every)

    def __call__(self, online: PyTree, target: PyTree, num_updates: Int[Array, ""]) -> PyTree:
        copy = num_updates % self.every == 0
        return _blend(online, target, lambda o, t: jnp.where(copy, o, t))


class PolyakUpdate(AbstractTargetUpdate):
    """Polyak averaging after every gradient step: `target <- tau * online + (1 - tau) * target`.

    Args:
        tau: Averaging weight in `(0, 1]` (`1.0` copies every step); a float32 array,
            so `jax.vmap` over it compiles once.
    """

    tau: Float[Array, ""] = eqx.field(converter=as_hyperparameter)

    def __check_init__(self):
        check_range("PolyakUpdate", "tau", self.tau, low=0.0, high=1.0, low_open=True)

    def __call__(self, online: PyTree, target: PyTree, num_updates: Int[Array, ""]) -> PyTree:
        tau = self.tau
        return _blend(online, target, lambda o, t: tau * o + (1.0 - tau) * t)
