"""Learning curves from logged runs: seeds aggregated as a mean and a band, saved as a PNG.

`plot_learning_curves` reads the SQLite store that `SQLiteBackend` writes (the `lerax`
command line's `lerax_runs.db`), a TensorBoard log directory written by
`TensorBoardBackend`, or series you pass in memory. The seeds of one `jax.vmap(learn)`
population (`<name>/seed_<i>`) are grouped into one curve, `<name>`. Under nested vmaps
the LAST index is taken as the seed, as `lerax.population.train_population` nests them
(hyper-parameter values outside, seeds inside): `<name>/<i>_<j>` for every `j` is the
curve `<name>/<i>`. The population's aggregate runs (`<name>/aggregate`,
`<name>/aggregate_<i>`) are skipped, because the curves recompute them from the
members. Other runs are curves of their own, unless `runs` maps a label to several.

Aggregation (`aggregate_curves`), at every step logged by any member:

* a member takes part from its first to its last finite value (a member that stopped
  early drops out after its last log event); between two of its logged steps its value
  is linearly interpolated, which is exact at its own steps. NaN values (a log window
  without a finished episode) are skipped;
* the curve is the mean over the members taking part at that step;
* the band is their minimum and maximum (`band="minmax"`, the default), the 25th and
  75th percentiles (`band="iqr"`, linear interpolation between order statistics, as
  `numpy.percentile`), or none (`band="none"`).

matplotlib is an optional dependency: `pip install "lerax[plot]"`. The command line
form is `lerax plot --db runs.db --metric episode/return_mean --output curves.png`.
"""

from ._cli import add_plot_subparser as add_plot_subparser
from ._cli import main as main
from ._cli import run_plot as run_plot
from ._curves import BANDS as BANDS
from ._curves import DEFAULT_METRIC as DEFAULT_METRIC
from ._curves import LearningCurve as LearningCurve
from ._curves import aggregate_curves as aggregate_curves
from ._curves import list_sources as list_sources
from ._draw import plot_learning_curves as plot_learning_curves
from ._sources import Series as Series

__all__ = [
    "LearningCurve",
    "aggregate_curves",
    "list_sources",
    "plot_learning_curves",
    "add_plot_subparser",
    "run_plot",
]
