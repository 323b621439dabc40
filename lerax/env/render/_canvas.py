"""Anti-aliased rasterisation primitives in pure JAX.

A canvas is a `float32` array of shape `(height, width, 3)` holding RGB values in
`[0, 255]`. Coordinates are in pixels: `x` grows to the right, `y` grows
downwards, and the centre of pixel `(row, col)` is at `(col + 0.5, row + 0.5)`.

Every primitive computes a signed distance `d` (in pixels, negative inside) for
all pixels at once and blends its colour with coverage `clip(0.5 - d, 0, 1)`,
which gives one pixel of anti-aliasing for free. The cost of a primitive is
`O(height * width)` (times the number of edges for a polygon); all functions are
jittable and vmappable, with `width`/`height` taken from the static canvas shape.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, UInt8

Color = tuple[int, int, int]

_EPS = 1e-9


def blank_canvas(width: int, height: int, color: Color = (255, 255, 255)) -> Float[Array, "H W 3"]:
    """A canvas filled with one colour.

    Args:
        width: Width in pixels (a Python int).
        height: Height in pixels (a Python int).
        color: RGB fill colour.

    Returns:
        A `float32` array of shape `(height, width, 3)`.
    """
    return jnp.broadcast_to(jnp.asarray(color, jnp.float32), (height, width, 3))


def pixel_centres(canvas: Float[Array, "H W 3"]) -> tuple[Float[Array, "1 W"], Float[Array, "H 1"]]:
    """The `x` (per column) and `y` (per row) coordinates of pixel centres, broadcastable."""
    height, width = canvas.shape[0], canvas.shape[1]
    xs = jnp.arange(width, dtype=jnp.float32)[None, :] + 0.5
    ys = jnp.arange(height, dtype=jnp.float32)[:, None] + 0.5
    return xs, ys


def paint(
    canvas: Float[Array, "H W 3"],
    signed_distance: Float[Array, "H W"],
    color: Color,
    opacity: Float[ArrayLike, ""] = 1.0,
) -> Float[Array, "H W 3"]:
    """Blend `color` over `canvas` where `signed_distance` (pixels, < 0 inside) says so.

    Args:
        canvas: The canvas to draw on.
        signed_distance: Distance to the shape's boundary, negative inside.
        color: RGB colour of the shape.
        opacity: Overall opacity in `[0, 1]`.

    Returns:
        The new canvas.
    """
    coverage = opacity * jnp.clip(0.5 - signed_distance, 0.0, 1.0)
    return canvas + coverage[..., None] * (jnp.asarray(color, jnp.float32) - canvas)


def _stroke(
    canvas: Float[Array, "H W 3"],
    distance: Float[Array, "H W"],
    thickness: Float[ArrayLike, ""],
    color: Color,
) -> Float[Array, "H W 3"]:
    """Paint everything within `thickness / 2` of a curve; strokes thinner than a pixel fade."""
    thickness = jnp.asarray(thickness, jnp.float32)
    half_width = 0.5 * jnp.maximum(thickness, 1.0)
    return paint(canvas, distance - half_width, color, jnp.clip(thickness, 0.0, 1.0))


def transform_points(
    points: Float[ArrayLike, "N 2"], *, angle: Float[ArrayLike, ""], offset: Float[ArrayLike, "2"]
) -> Float[Array, "N 2"]:
    """Rotate points counter-clockwise (in a y-up frame) by `angle`, then translate.

    Args:
        points: Points in a local frame.
        angle: Rotation in radians.
        offset: Translation applied after the rotation.

    Returns:
        The transformed points.
    """
    points = jnp.asarray(points, jnp.float32)
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    x = points[:, 0] * cos - points[:, 1] * sin
    y = points[:, 0] * sin + points[:, 1] * cos
    return jnp.stack([x, y], axis=-1) + jnp.asarray(offset, jnp.float32)


def fill_polygon(
    canvas: Float[Array, "H W 3"], vertices: Float[ArrayLike, "N 2"], color: Color
) -> Float[Array, "H W 3"]:
    """Fill a convex polygon (either orientation) as an intersection of half-planes.

    Args:
        canvas: The canvas to draw on.
        vertices: The polygon's corners in order, in pixel coordinates.
        color: RGB fill colour.

    Returns:
        The new canvas.
    """
    vertices = jnp.asarray(vertices, jnp.float32)
    xs, ys = pixel_centres(canvas)
    following = jnp.roll(vertices, -1, axis=0)
    edges = following - vertices
    # Shoelace sign: flips the normals so that they point outwards either way round.
    area = jnp.sum(vertices[:, 0] * following[:, 1] - following[:, 0] * vertices[:, 1])
    orientation = jnp.where(area >= 0, 1.0, -1.0)
    lengths = jnp.maximum(jnp.hypot(edges[:, 0], edges[:, 1]), _EPS)
    normal_x = orientation * edges[:, 1] / lengths
    normal_y = -orientation * edges[:, 0] / lengths
    distance = None
    for i in range(vertices.shape[0]):  # a handful of edges: unrolled, fused by XLA
        edge_distance = (xs - vertices[i, 0]) * normal_x[i] + (ys - vertices[i, 1]) * normal_y[i]
        distance = edge_distance if distance is None else jnp.maximum(distance, edge_distance)
    distance = jnp.where(jnp.abs(area) > _EPS, distance, jnp.inf)  # degenerate: draw nothing
    return paint(canvas, distance, color)


def fill_rectangle(
    canvas: Float[Array, "H W 3"],
    *,
    left: Float[ArrayLike, ""],
    top: Float[ArrayLike, ""],
    right: Float[ArrayLike, ""],
    bottom: Float[ArrayLike, ""],
    color: Color,
) -> Float[Array, "H W 3"]:
    """Fill an axis-aligned rectangle given by its pixel-coordinate sides (`top < bottom`)."""
    xs, ys = pixel_centres(canvas)
    distance_x = jnp.maximum(left - xs, xs - right)
    distance_y = jnp.maximum(top - ys, ys - bottom)
    return paint(canvas, jnp.maximum(distance_x, distance_y), color)


def fill_circle(
    canvas: Float[Array, "H W 3"],
    centre: Float[ArrayLike, "2"],
    radius: Float[ArrayLike, ""],
    color: Color,
) -> Float[Array, "H W 3"]:
    """Fill a disc.

    Args:
        canvas: The canvas to draw on.
        centre: Centre `(x, y)` in pixels.
        radius: Radius in pixels.
        color: RGB fill colour.

    Returns:
        The new canvas.
    """
    xs, ys = pixel_centres(canvas)
    distance = jnp.hypot(xs - centre[0], ys - centre[1]) - radius
    return paint(canvas, distance, color, jnp.clip(2.0 * radius, 0.0, 1.0))  # tiny discs fade


def draw_line(
    canvas: Float[Array, "H W 3"],
    start: Float[ArrayLike, "2"],
    end: Float[ArrayLike, "2"],
    thickness: Float[ArrayLike, ""],
    color: Color,
) -> Float[Array, "H W 3"]:
    """Draw a straight segment with round caps.

    Args:
        canvas: The canvas to draw on.
        start: One end `(x, y)` in pixels.
        end: The other end `(x, y)` in pixels.
        thickness: Line width in pixels.
        color: RGB colour.

    Returns:
        The new canvas.
    """
    xs, ys = pixel_centres(canvas)
    dx, dy = end[0] - start[0], end[1] - start[1]
    length_squared = jnp.maximum(dx * dx + dy * dy, _EPS)
    t = jnp.clip(((xs - start[0]) * dx + (ys - start[1]) * dy) / length_squared, 0.0, 1.0)
    distance = jnp.hypot(xs - start[0] - t * dx, ys - start[1] - t * dy)
    return _stroke(canvas, distance, thickness, color)


def draw_arc(
    canvas: Float[Array, "H W 3"],
    centre: Float[ArrayLike, "2"],
    radius: Float[ArrayLike, ""],
    start_angle: Float[ArrayLike, ""],
    end_angle: Float[ArrayLike, ""],
    thickness: Float[ArrayLike, ""],
    color: Color,
) -> Float[Array, "H W 3"]:
    """Draw a circular arc from `start_angle` to `end_angle` (radians, counter-clockwise on screen).

    Angles are measured from the `+x` axis towards `-y` (up on screen); the arc
    covers the shorter way round unless `end_angle - start_angle` says otherwise.

    Args:
        canvas: The canvas to draw on.
        centre: Centre `(x, y)` in pixels.
        radius: Radius in pixels.
        start_angle: Where the arc begins.
        end_angle: Where the arc ends.
        thickness: Line width in pixels.
        color: RGB colour.

    Returns:
        The new canvas.
    """
    xs, ys = pixel_centres(canvas)
    dx, dy = xs - centre[0], centre[1] - ys
    distance = jnp.hypot(dx, dy)
    middle = 0.5 * (start_angle + end_angle)
    half_span = 0.5 * jnp.abs(end_angle - start_angle)
    offset = jnp.mod(jnp.arctan2(dy, dx) - middle + jnp.pi, 2 * jnp.pi) - jnp.pi
    ring = jnp.abs(distance - radius)
    sector = (jnp.abs(offset) - half_span) * radius
    return _stroke(canvas, jnp.maximum(ring, sector), thickness, color)


def draw_graph(
    canvas: Float[Array, "H W 3"],
    ys: Float[Array, " W"],
    thickness: Float[ArrayLike, ""],
    color: Color,
    *,
    visible: Bool[Array, " W"] | None = None,
) -> Float[Array, "H W 3"]:
    """Draw the curve `y = ys[column]` across the canvas (one sample per column).

    The distance to the curve is approximated from the vertical distance and the
    local slope, so steep parts keep their width.

    Args:
        canvas: The canvas to draw on.
        ys: Pixel `y` coordinate of the curve at every column centre.
        thickness: Line width in pixels.
        color: RGB colour.
        visible: Columns where the curve is drawn (default: all).

    Returns:
        The new canvas.
    """
    _, pixel_ys = pixel_centres(canvas)
    slope = jnp.gradient(ys) if ys.shape[0] > 1 else jnp.zeros_like(ys)
    distance = jnp.abs(pixel_ys - ys[None, :]) / jnp.sqrt(1.0 + slope**2)[None, :]
    if visible is not None:
        distance = jnp.where(visible[None, :], distance, jnp.inf)
    return _stroke(canvas, distance, thickness, color)


def to_image(canvas: Float[Array, "H W 3"]) -> UInt8[Array, "H W 3"]:
    """Round a canvas to an RGB `uint8` image."""
    return jnp.clip(jnp.round(canvas), 0, 255).astype(jnp.uint8)
