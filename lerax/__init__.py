"""lerax: reinforcement learning on JAX + Equinox with functional callbacks."""

__version__ = "0.1.0"

from lerax.policy import load_policy as load_policy
from lerax.policy import save_policy as save_policy
