"""Loop control that stays correct under the user's `jax.vmap` over runs.

A training run stops when a callback says so. Under `jax.vmap(learn)` each member
(seed, hyper-parameter value) stops on its own, but a `while_loop` whose predicate
is batched may not contain io effects, and the host crossings live in the loop body.
Two `custom_vmap` primitives solve this:

* `any_member(flag)` is `flag` for one run; under `vmap` it reduces over the mapped
  axis and returns an UNBATCHED value, so the loop predicate is never batched: the
  loop runs while any member is active.
* `keep_stopped(stopped, old, new)` is `new` for one run (the body only runs while
  the run is active, so nothing to select); under `vmap` it selects `old` for the
  stopped members, freezing their state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Bool, PyTree


@custom_vmap
def any_member(flag: Bool[Array, ""]) -> Bool[Array, ""]:
    """True if `flag` holds for any vmapped member (the flag itself for one run)."""
    return flag


@any_member.def_vmap
def _any_member_vmap(axis_size, in_batched, flag):
    (batched,) = in_batched
    reduced = jnp.any(flag, axis=0) if batched else flag
    return any_member(reduced), False


@custom_vmap
def keep_stopped(stopped: Bool[Array, ""], old: PyTree, new: PyTree) -> PyTree:
    """`new` for one run; under vmap, `old` for members whose `stopped` is True."""
    del stopped, old
    return new


@keep_stopped.def_vmap
def _keep_stopped_vmap(axis_size, in_batched, stopped, old, new):
    stopped_b, old_b, new_b = in_batched

    def _select(o, n, ob, nb):
        if not stopped_b:
            return n
        o = o if ob else jnp.broadcast_to(o, (axis_size,) + o.shape)
        n = n if nb else jnp.broadcast_to(n, (axis_size,) + n.shape)
        s = stopped.reshape((axis_size,) + (1,) * (o.ndim - 1))
        return jnp.where(s, o, n)

    out = jax.tree.map(_select, old, new, old_b, new_b)
    out_batched = jax.tree.map(lambda ob, nb: bool(stopped_b or ob or nb), old_b, new_b)
    return out, out_batched
