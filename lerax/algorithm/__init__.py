"""Algorithms and the one training-loop driver."""

from lerax.policy import evaluate_policy as evaluate_policy

from ._abstract import AbstractAlgorithm as AbstractAlgorithm
from ._gae import compute_gae as compute_gae
from ._optim import trainable as trainable
from ._ppo import PPO as PPO
from ._rollout import Rollout as Rollout
from ._rollout import collect_rollout as collect_rollout
from ._step import Transition as Transition
from ._step import step_envs as step_envs
from ._train_state import AbstractAlgorithmState as AbstractAlgorithmState
from ._train_state import EmptyAlgorithmState as EmptyAlgorithmState
from ._train_state import TrainState as TrainState
