"""Logging: `LoggingCallback` and its backends."""

from ._backend import AbstractLoggingBackend as AbstractLoggingBackend
from ._callback import LoggingCallback as LoggingCallback
from ._callback import LoggingCallbackState as LoggingCallbackState
from ._step_state import LoggingCallbackStepState as LoggingCallbackStepState
