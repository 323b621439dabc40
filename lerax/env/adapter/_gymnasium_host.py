"""The host side of `GymnasiumEnv`: the Gymnasium env objects and their responders.

Each `GymnasiumEnv` owns one `GymnasiumHost`, kept in a module-level registry under
an integer handle (the jax-side Module only stores the handle). The host keeps one
Gymnasium env per lerax env index: a query's row index tuple (`()` outside `vmap`,
`(i,)` for env `i` of the driver's `num_envs`) names the slot.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from lerax import host

_handles = itertools.count()
_hosts: dict[int, GymnasiumHost] = {}
_lock = threading.Lock()


def lookup(handle: int) -> GymnasiumHost:
    """The host of a live `GymnasiumEnv`."""
    with _lock:
        found = _hosts.get(handle)
    if found is None:
        raise RuntimeError(f"GymnasiumEnv: handle {handle} was closed.")
    return found


class GymnasiumHost:
    """Gymnasium envs made by `factory`, one per slot, answering reset/step queries.

    Args:
        factory: Makes a new Gymnasium env (called once per slot).
        action_kind: `"discrete"` (actions are ints, offset by `action_start`) or
            `"box"` (actions are arrays of `action_dtype`).
    """

    def __init__(self, factory: Callable[[], Any]):
        self.factory = factory
        self.probe = factory()  # read the spaces now; serves as the first slot later
        self.envs: dict[tuple[int, ...], Any] = {}
        self.resets = 0  # Gymnasium resets made, all slots together
        self.steps = 0
        self.handle = next(_handles)
        self.reset_channel = f"lerax.env.gymnasium/{self.handle}/reset"
        self.step_channel = f"lerax.env.gymnasium/{self.handle}/step"
        self.observation_dtype: np.dtype = np.dtype(np.float32)
        self.observation_shape: tuple[int, ...] = ()
        self.action_start = 0
        self.action_dtype: np.dtype | None = None  # None: discrete
        with _lock:
            _hosts[self.handle] = self
        host.respond(self.reset_channel, self.reset)
        host.respond(self.step_channel, self.step)

    def close(self) -> None:
        """Close every Gymnasium env and stop answering queries."""
        host.unrespond(self.reset_channel)
        host.unrespond(self.step_channel)
        with _lock:
            _hosts.pop(self.handle, None)
        envs = list(self.envs.values())
        if self.probe is not None and all(self.probe is not env for env in envs):
            envs.append(self.probe)
        for env in envs:
            env.close()
        self.envs.clear()
        self.probe = None

    # ------------------------------------------------------------------ slots

    def _slot(self, index: np.ndarray, *, create: bool) -> Any:
        key = tuple(int(i) for i in index)
        env = self.envs.get(key)
        if env is None:
            if not create:
                raise RuntimeError(
                    f"GymnasiumEnv: env {key} was stepped before it was reset (call "
                    "`reset` first; AutoReset and the training driver do)."
                )
            if self.probe is not None and all(self.probe is not e for e in self.envs.values()):
                env = self.probe
            else:
                env = self.factory()
            self.envs[key] = env
        return env

    def _observation(self, observation: Any) -> np.ndarray:
        return np.asarray(observation, dtype=self.observation_dtype).reshape(self.observation_shape)

    def _action(self, action: np.ndarray) -> Any:
        if self.action_dtype is None:
            return int(action) + self.action_start
        return np.asarray(action, dtype=self.action_dtype)

    # ------------------------------------------------------------------ responders

    def reset(self, rows: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
        """Reset the env of every row with its seed."""
        observations = []
        for row, member in enumerate(index):
            env = self._slot(member, create=True)
            observation, _ = env.reset(seed=int(rows["seed"][row]))
            self.resets += 1
            observations.append(self._observation(observation))
        return {
            "observation": np.stack(observations),
            "ticket": rows["ticket"] + 1,
        }

    def step(self, rows: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
        """Step the env of every row; an env whose episode ended is reset at once."""
        out: dict[str, list] = {
            k: [] for k in ("observation", "reward", "terminated", "truncated", "reset_observation")
        }
        for row, member in enumerate(index):
            env = self._slot(member, create=False)
            observation, reward, terminated, truncated, _ = env.step(
                self._action(rows["action"][row])
            )
            self.steps += 1
            observation = self._observation(observation)
            reset_observation = observation
            if terminated or truncated:
                fresh, _ = env.reset(seed=int(rows["reset_seed"][row]))
                self.resets += 1
                reset_observation = self._observation(fresh)
            out["observation"].append(observation)
            out["reward"].append(np.float32(reward))
            out["terminated"].append(bool(terminated))
            out["truncated"].append(bool(truncated))
            out["reset_observation"].append(reset_observation)
        reply = {
            k: np.stack(v) if k.endswith("observation") else np.asarray(v) for k, v in out.items()
        }
        reply["ticket"] = rows["ticket"] + 1
        return reply
