"""lerax: reinforcement learning on JAX + Equinox with functional callbacks."""

__version__ = "0.1.0"
