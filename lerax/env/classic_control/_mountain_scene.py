"""The picture shared by both mountain-car environments."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float, UInt8

from ..render import (
    Viewport,
    blank_canvas,
    draw_graph,
    draw_line,
    fill_circle,
    fill_polygon,
    pixel_centres,
    to_image,
    transform_points,
)


def _hill_height(position: Float[Array, "*batch"]) -> Float[Array, "*batch"]:
    return jnp.sin(3 * position) * 0.45 + 0.55


def draw_mountain_scene(
    position: Float[Array, ""],
    *,
    min_position: Float[Array, ""],
    max_position: Float[Array, ""],
    goal_position: Float[Array, ""],
    width: int,
    height: int,
) -> UInt8[Array, "H W 3"]:
    """Gymnasium's 600 x 400 mountain-car picture (hill, car, flag) fitted to the canvas.

    Args:
        position: The car's position.
        min_position: Left end of the track.
        max_position: Right end of the track.
        goal_position: Where the flag stands.
        width: Canvas width in pixels.
        height: Canvas height in pixels.

    Returns:
        A `uint8` image of shape `(height, width, 3)`.
    """
    view = Viewport(width, height, 600.0, 400.0)
    scale = 600.0 / (max_position - min_position)
    car_width, car_height, clearance = 40.0, 20.0, 10.0
    canvas = blank_canvas(width, height)

    # The hill: one sample per canvas column, drawn only over the track.
    column_x, _ = pixel_centres(canvas)
    scene_x = (column_x[0] - view.x_margin) / view.scale
    track = scene_x / scale + min_position
    hill_y = view.to_canvas(jnp.stack([scene_x, _hill_height(track) * scale], axis=-1))[:, 1]
    visible = (track >= min_position) & (track <= max_position)
    canvas = draw_graph(canvas, hill_y, max(view.scale, 1.0), (0, 0, 0), visible=visible)

    # The car, tilted by cos(3 x) like Gymnasium's, resting `clearance` above the hill.
    angle = jnp.cos(3 * position)
    anchor = jnp.stack(
        [(position - min_position) * scale, clearance + _hill_height(position) * scale]
    )
    half = car_width / 2
    body = jnp.array([[-half, 0.0], [-half, car_height], [half, car_height], [half, 0.0]])
    body = transform_points(body, angle=angle, offset=anchor)
    canvas = fill_polygon(canvas, view.to_canvas(body), (0, 0, 0))
    wheels = transform_points(
        jnp.array([[car_width / 4, 0.0], [-car_width / 4, 0.0]]), angle=angle, offset=anchor
    )
    for wheel in view.to_canvas(wheels):
        canvas = fill_circle(canvas, wheel, view.length(car_height / 2.5), (128, 128, 128))

    # The flag at the goal.
    flag_x = (goal_position - min_position) * scale
    flag_bottom = _hill_height(goal_position) * scale
    flag_top = flag_bottom + 50.0
    canvas = draw_line(
        canvas,
        view.to_canvas(jnp.stack([flag_x, flag_bottom])),
        view.to_canvas(jnp.stack([flag_x, flag_top])),
        max(view.scale, 1.0),
        (0, 0, 0),
    )
    flag = jnp.stack(
        [
            jnp.stack([flag_x, flag_top]),
            jnp.stack([flag_x, flag_top - 10.0]),
            jnp.stack([flag_x + 25.0, flag_top - 5.0]),
        ]
    )
    canvas = fill_polygon(canvas, view.to_canvas(flag), (204, 204, 0))
    return to_image(canvas)
