"""Algorithms and the one training-loop driver."""

from lerax.policy import evaluate_policy as evaluate_policy

from ._a2c import A2C as A2C
from ._abstract import AbstractAlgorithm as AbstractAlgorithm
from ._dqn import DQN as DQN
from ._dqn import DQNLearnerState as DQNLearnerState
from ._gae import compute_gae as compute_gae
from ._off_policy import AbstractOffPolicyAlgorithm as AbstractOffPolicyAlgorithm
from ._off_policy import OffPolicyState as OffPolicyState
from ._optim import trainable as trainable
from ._ppo import PPO as PPO
from ._replay_buffer import ReplayBatch as ReplayBatch
from ._replay_buffer import ReplayBuffer as ReplayBuffer
from ._rollout import Rollout as Rollout
from ._rollout import collect_rollout as collect_rollout
from ._sac import SAC as SAC
from ._sac import SACLearnerState as SACLearnerState
from ._sac import SACOptState as SACOptState
from ._step import Transition as Transition
from ._step import step_envs as step_envs
from ._target_update import AbstractTargetUpdate as AbstractTargetUpdate
from ._target_update import HardUpdate as HardUpdate
from ._target_update import PolyakUpdate as PolyakUpdate
from ._train_state import AbstractAlgorithmState as AbstractAlgorithmState
from ._train_state import EmptyAlgorithmState as EmptyAlgorithmState
from ._train_state import TrainState as TrainState
