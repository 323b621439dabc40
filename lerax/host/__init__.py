"""The single device-to-host crossing (`send`), batched events, run scopes and receivers."""

from ._batch import EventBuffer as EventBuffer
from ._batch import decode_columns as decode_columns
from ._crossing import active_scope as active_scope
from ._crossing import member_scope as member_scope
from ._crossing import member_witness as member_witness
from ._crossing import send as send
from ._naming import member_label as member_label
from ._order import after_previous as after_previous
from ._order import crossing_order as crossing_order
from ._order import mark as mark
from ._pace import Pace as Pace
from ._query import QueryDepthError as QueryDepthError
from ._query import query as query
from ._query import respond as respond
from ._query import unrespond as unrespond
from ._registry import failure as failure
from ._registry import host_calls as host_calls
from ._registry import register as register
from ._registry import unregister as unregister
from ._scope import RunScope as RunScope
from ._scope import channel_scope as channel_scope
from ._scope import open_runs as open_runs
from ._scope import prefixed as prefixed
from ._scope import run_token as run_token
from ._switching import responsive_switching as responsive_switching
from ._worker import BackgroundWorker as BackgroundWorker
