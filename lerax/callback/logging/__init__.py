"""Logging: `LoggingCallback` and its backends."""

from ._backend import AbstractLoggingBackend as AbstractLoggingBackend
from ._callback import LoggingCallback as LoggingCallback
from ._comet import CometBackend as CometBackend
from ._console import ConsoleBackend as ConsoleBackend
from ._log_state import LoggingCallbackState as LoggingCallbackState
from ._query import list_runs as list_runs
from ._query import load_metrics as load_metrics
from ._query import load_metrics_dataframe as load_metrics_dataframe
from ._sqlite import SQLiteBackend as SQLiteBackend
from ._tensorboard import TensorBoardBackend as TensorBoardBackend
from ._wandb import WandbBackend as WandbBackend
