"""Fitting a fixed-size reference scene onto a canvas of any size."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


class Viewport(eqx.Module):
    """Maps a `scene_width x scene_height` y-up scene onto a `width x height` canvas.

    Scenes are laid out in the reference units of Gymnasium's pictures (e.g.
    600 x 400 "pixels" for CartPole, origin at the bottom-left, `y` up). The
    viewport scales them uniformly (aspect ratio kept) and centres them, so a
    canvas with a different aspect ratio shows the whole scene with margins.

    Args:
        width: Canvas width in pixels.
        height: Canvas height in pixels.
        scene_width: Width of the reference scene.
        scene_height: Height of the reference scene.

    Raises:
        ValueError: if a size is not positive.
    """

    width: int = eqx.field(static=True)
    height: int = eqx.field(static=True)
    scale: float = eqx.field(static=True)
    x_margin: float = eqx.field(static=True)
    y_margin: float = eqx.field(static=True)

    def __init__(self, width: int, height: int, scene_width: float, scene_height: float):
        if min(width, height) <= 0 or min(scene_width, scene_height) <= 0:
            raise ValueError(
                f"Viewport: sizes must be positive, got width={width}, height={height}, "
                f"scene_width={scene_width}, scene_height={scene_height}."
            )
        self.width = int(width)
        self.height = int(height)
        self.scale = min(width / scene_width, height / scene_height)
        self.x_margin = 0.5 * (width - self.scale * scene_width)
        self.y_margin = 0.5 * (height - self.scale * scene_height)

    def to_canvas(self, points: Float[ArrayLike, "*batch 2"]) -> Float[Array, "*batch 2"]:
        """Scene points `(x, y-up)` to canvas pixel coordinates `(x, y-down)`."""
        points = jnp.asarray(points, jnp.float32)
        x = self.x_margin + self.scale * points[..., 0]
        y = self.height - self.y_margin - self.scale * points[..., 1]
        return jnp.stack([x, y], axis=-1)

    def length(self, value: Float[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """A scene length in canvas pixels."""
        return self.scale * jnp.asarray(value, jnp.float32)
