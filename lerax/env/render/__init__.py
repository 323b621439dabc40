"""Pure-JAX rasterisation primitives used by environment renderers."""

from ._canvas import Color as Color
from ._canvas import blank_canvas as blank_canvas
from ._canvas import draw_arc as draw_arc
from ._canvas import draw_graph as draw_graph
from ._canvas import draw_line as draw_line
from ._canvas import fill_circle as fill_circle
from ._canvas import fill_polygon as fill_polygon
from ._canvas import fill_rectangle as fill_rectangle
from ._canvas import paint as paint
from ._canvas import pixel_centres as pixel_centres
from ._canvas import to_image as to_image
from ._canvas import transform_points as transform_points
from ._viewport import Viewport as Viewport
