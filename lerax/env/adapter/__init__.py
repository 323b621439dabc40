"""Adapters: environments of other libraries as lerax environments."""

from ._brax import BraxEnv as BraxEnv
from ._brax import BraxEnvState as BraxEnvState
from ._gymnasium import GymnasiumEnv as GymnasiumEnv
from ._gymnasium import GymnasiumHostEnv as GymnasiumHostEnv
from ._gymnasium import GymnasiumHostState as GymnasiumHostState
from ._gymnax import GymnaxEnv as GymnaxEnv
from ._gymnax import GymnaxEnvState as GymnaxEnvState
