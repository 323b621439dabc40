"""The functional callback framework."""

from ._abstract import AbstractCallback as AbstractCallback
from ._context import IterationContext as IterationContext
from ._context import ResetContext as ResetContext
from ._context import StepContext as StepContext
from ._context import TrainingContext as TrainingContext
from ._list import CallbackList as CallbackList
from ._list import CallbackListState as CallbackListState
from ._list import CallbackListStepState as CallbackListStepState
from ._list import as_callback as as_callback
from ._partial import AbstractIterationCallback as AbstractIterationCallback
from ._partial import AbstractStatelessCallback as AbstractStatelessCallback
from ._partial import AbstractStepCallback as AbstractStepCallback
from ._partial import AbstractTrainingCallback as AbstractTrainingCallback
from ._print_progress import PrintProgress as PrintProgress
from ._state import AbstractCallbackState as AbstractCallbackState
from ._state import AbstractCallbackStepState as AbstractCallbackStepState
from ._state import EmptyCallbackState as EmptyCallbackState
from ._state import EmptyCallbackStepState as EmptyCallbackStepState
