"""Tuned defaults per (algorithm, env), from rl-baselines3-zoo: the table behind
`lerax train ALGO ENV` (`hyperparameters.toml` in this package), `lerax zoo` and
`benchmarks/zoo.py`."""

from ._table import ALGORITHMS as ALGORITHMS
from ._table import BUILT_IN_ENVS as BUILT_IN_ENVS
from ._table import ZooError as ZooError
from ._table import accepted_envs as accepted_envs
from ._table import entries as entries
from ._table import hyperparameters as hyperparameters
from ._table import make as make
from ._table import make_env as make_env
from ._table import table_path as table_path
from ._table import training_env as training_env
