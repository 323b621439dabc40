"""The pure-JAX rasterisation primitives."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env.render import (
    Viewport,
    blank_canvas,
    draw_arc,
    draw_graph,
    draw_line,
    fill_circle,
    fill_polygon,
    fill_rectangle,
    to_image,
    transform_points,
)

RED = (255, 0, 0)


def _red_coverage(canvas):
    """Fraction of red painted over a white canvas, per pixel (1 - green / 255)."""
    return 1.0 - np.asarray(canvas)[..., 1] / 255.0


def test_blank_canvas_shape_and_colour():
    canvas = blank_canvas(7, 5, (10, 20, 30))
    assert canvas.shape == (5, 7, 3) and canvas.dtype == jnp.float32
    np.testing.assert_array_equal(canvas[3, 6], [10, 20, 30])


def test_pixel_aligned_rectangle_covers_exactly_its_pixels():
    canvas = fill_rectangle(blank_canvas(10, 8), left=2, top=1, right=6, bottom=4, color=RED)
    expected = np.zeros((8, 10))
    expected[1:4, 2:6] = 1.0
    np.testing.assert_allclose(_red_coverage(canvas), expected, atol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_polygon_matches_rectangle_in_either_orientation(reverse):
    corners = np.array([[2.0, 1.0], [6.0, 1.0], [6.0, 4.0], [2.0, 4.0]])
    if reverse:
        corners = corners[::-1]
    polygon = fill_polygon(blank_canvas(10, 8), corners, RED)
    rectangle = fill_rectangle(blank_canvas(10, 8), left=2, top=1, right=6, bottom=4, color=RED)
    np.testing.assert_allclose(polygon, rectangle, atol=1e-4)


def test_triangle_area_and_degenerate_polygon():
    triangle = np.array([[2.0, 2.0], [30.0, 2.0], [2.0, 22.0]])
    coverage = _red_coverage(fill_polygon(blank_canvas(40, 30), triangle, RED))
    assert math.isclose(coverage.sum(), 0.5 * 28 * 20, rel_tol=0.03)
    assert coverage[5, 5] == pytest.approx(1.0) and coverage[20, 28] == pytest.approx(0.0)
    point = np.full((3, 2), 5.0)
    np.testing.assert_array_equal(
        fill_polygon(blank_canvas(10, 10), point, RED), blank_canvas(10, 10)
    )


def test_circle_area_and_centre():
    coverage = _red_coverage(fill_circle(blank_canvas(40, 40), jnp.array([20.0, 15.0]), 8.0, RED))
    assert math.isclose(coverage.sum(), math.pi * 64, rel_tol=0.02)
    rows, cols = np.nonzero(coverage > 0.5)
    assert rows.mean() == pytest.approx(14.5, abs=0.1) and cols.mean() == pytest.approx(
        19.5, abs=0.1
    )


def test_line_is_one_row_thick_and_zero_width_draws_nothing():
    canvas = draw_line(
        blank_canvas(20, 10), jnp.array([3.0, 5.5]), jnp.array([15.0, 5.5]), 1.0, RED
    )
    coverage = _red_coverage(canvas)
    np.testing.assert_allclose(coverage[5, 4:15], 1.0, atol=1e-6)
    assert coverage[4].max() < 1e-6 and coverage[6].max() < 1e-6
    assert coverage[:, :2].max() < 1e-6 and coverage[:, 17:].max() < 1e-6
    thin = draw_line(blank_canvas(20, 10), jnp.array([3.0, 5.5]), jnp.array([15.0, 5.5]), 0.0, RED)
    np.testing.assert_array_equal(thin, blank_canvas(20, 10))


def test_arc_covers_its_sector_only():
    centre = jnp.array([20.5, 20.5])
    # From the top (pi / 2) counter-clockwise to the bottom (3 pi / 2): the left half.
    canvas = draw_arc(blank_canvas(41, 41), centre, 10.0, math.pi / 2, 1.5 * math.pi, 2.0, RED)
    coverage = _red_coverage(canvas)
    assert coverage[20, 10] == pytest.approx(1.0)  # left
    assert coverage[20, 30] == pytest.approx(0.0)  # right
    assert coverage[20, 20] == pytest.approx(0.0)  # centre


def test_graph_follows_its_samples_where_visible():
    ys = jnp.linspace(2.5, 12.5, 16)
    visible = jnp.arange(16) < 12
    canvas = draw_graph(blank_canvas(16, 16), ys, 1.0, RED, visible=visible)
    coverage = _red_coverage(canvas)
    for column in range(12):
        assert coverage[:, column].argmax() == int(ys[column])
    assert coverage[:, 12:].max() == 0.0


def test_transform_points_rotates_counter_clockwise_then_translates():
    points = transform_points(
        jnp.array([[1.0, 0.0]]), angle=math.pi / 2, offset=jnp.array([3.0, 4.0])
    )
    np.testing.assert_allclose(points, [[3.0, 5.0]], atol=1e-6)


def test_viewport_keeps_aspect_ratio_and_centres():
    view = Viewport(200, 50, 100.0, 100.0)  # wide canvas: height decides the scale
    assert view.scale == pytest.approx(0.5)
    corners = view.to_canvas(jnp.array([[0.0, 0.0], [100.0, 100.0]]))
    np.testing.assert_allclose(corners, [[75.0, 50.0], [125.0, 0.0]], atol=1e-5)
    with pytest.raises(ValueError, match="positive"):
        Viewport(0, 10, 1.0, 1.0)


def test_to_image_rounds_and_clips():
    image = to_image(jnp.array([[[-3.0, 127.6, 300.0]]]))
    assert image.dtype == jnp.uint8
    np.testing.assert_array_equal(image, [[[0, 128, 255]]])


def test_primitives_jit_and_vmap():
    centres = jnp.array([[5.0, 5.0], [12.0, 6.0]])

    def draw(centre):
        return to_image(fill_circle(blank_canvas(20, 12), centre, 3.0, RED))

    batched = jax.jit(jax.vmap(draw))(centres)
    assert batched.shape == (2, 12, 20, 3)
    for i in range(2):
        np.testing.assert_array_equal(batched[i], draw(centres[i]))
