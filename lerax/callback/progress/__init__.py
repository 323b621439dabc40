"""Training progress on the terminal: printed lines and a progress bar, with the host-side
display they share."""

from ._print_progress import PrintProgress as PrintProgress
from ._progress_bar import ProgressBarCallback as ProgressBarCallback
from ._progress_bar import ProgressBarState as ProgressBarState
