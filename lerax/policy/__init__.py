"""Policies: map ONE observation to an action (vectorise with `jax.vmap`)."""

from ._abstract import AbstractActorCriticPolicy as AbstractActorCriticPolicy
from ._abstract import AbstractPeriodicNoise as AbstractPeriodicNoise
from ._abstract import AbstractPolicy as AbstractPolicy
from ._abstract import exploration_keys as exploration_keys
from ._actor_critic import MLPActorCriticPolicy as MLPActorCriticPolicy
from ._evaluate import evaluate_policy as evaluate_policy
from ._export import deserialize_inference as deserialize_inference
from ._export import export_inference as export_inference
from ._export import serialize_inference as serialize_inference
from ._gsde import GSDEActorCriticPolicy as GSDEActorCriticPolicy
from ._io import load_policy as load_policy
from ._io import save_policy as save_policy
from ._mlp import MLP as MLP
from ._mlp import Dense as Dense
from ._normalized import ObservationNormalizedPolicy as ObservationNormalizedPolicy
from ._normalized import freeze_normalization as freeze_normalization
from ._q import MLPQPolicy as MLPQPolicy
from ._sac import GSDESACActor as GSDESACActor
from ._sac import MLPSACPolicy as MLPSACPolicy
from ._sac import SACActor as SACActor
from ._sac import SACCritic as SACCritic

__all__ = [
    "AbstractActorCriticPolicy",
    "AbstractPeriodicNoise",
    "AbstractPolicy",
    "GSDEActorCriticPolicy",
    "GSDESACActor",
    "MLP",
    "MLPActorCriticPolicy",
    "MLPQPolicy",
    "MLPSACPolicy",
    "ObservationNormalizedPolicy",
    "SACActor",
    "SACCritic",
    "deserialize_inference",
    "evaluate_policy",
    "exploration_keys",
    "export_inference",
    "freeze_normalization",
    "load_policy",
    "save_policy",
    "serialize_inference",
]
