"""`python_call`: an unordered host call that hands the host numpy arrays directly.

Why not `jax.experimental.io_callback`: on every call its implementation moves each
operand to a host `jax.Array` with `jax.device_put` before calling the Python
function. Inside the PPO iteration that Python work is on the critical path (the
compiled program waits for the call to return), a sizeable part of each crossing
(measured in `benchmarks/README.md`). The XLA host-callback custom call already
hands Python numpy arrays, so this primitive lowers straight to it with
`jax.interpreters.mlir.emit_python_callback` -- the lowering `io_callback` itself
uses -- with io_callback's unordered IO effect (so it is never dead-code eliminated,
and `cond`, `while`, `scan` and `remat` accept it exactly as they accept
io_callback), and io_callback's op sharding (one call per program, not one per
device, on sharded programs).

That lowering is JAX-internal. When this JAX does not provide it (checked once, at
import), `python_call` IS `io_callback`: same results, only slower.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback
from jaxtyping import Array


def _fast_path():
    """The pieces of the direct lowering, or None when this JAX lacks one of them."""
    try:
        from jax._src import callback as jax_callback
        from jax._src.core import ShapedArray
        from jax.extend.core import Primitive
        from jax.interpreters import mlir

        effect = jax_callback._IOEffect
        op_sharding = jax_callback._callback_op_sharding
        emit = mlir.emit_python_callback
        params = inspect.signature(emit).parameters
        if not {"has_side_effect", "returns_token", "sharding"} <= set(params):
            return None
    except (ImportError, AttributeError, TypeError, ValueError):
        return None

    primitive = Primitive("lerax_python_call")

    def abstract_eval(*operands, function, shape, dtype):
        return ShapedArray(shape, dtype), {effect}

    def impl(*operands, function, shape, dtype):  # outside jit: call it right here
        return jnp.asarray(function(*(np.asarray(x) for x in operands)), dtype)

    def lowering(ctx, *operands, function, shape, dtype):
        def flat(*arrays):
            return (np.asarray(function(*arrays), dtype),)

        sharding = op_sharding(ctx.module_context.axis_context, None, ctx.avals_out)
        results, _, _ = emit(
            ctx,
            flat,
            None,
            list(operands),
            ctx.avals_in,
            ctx.avals_out,
            has_side_effect=True,
            returns_token=False,
            sharding=sharding,
        )
        return results

    primitive.def_effectful_abstract_eval(abstract_eval)
    primitive.def_impl(impl)
    # Not cacheable: every call site has its own Python function (io_callback's rule).
    mlir.register_lowering(primitive, lowering, cacheable=False)
    return primitive


_primitive = _fast_path()


def python_call(
    function: Callable[..., np.ndarray],
    result: jax.ShapeDtypeStruct,
    *operands: Array,
) -> Array:
    """Call `function(*numpy_operands)` on the host; it returns ONE array like `result`.

    Unordered and unbatched (callers handle `vmap` themselves, see `_crossing.py`).
    Exceptions raised by `function` propagate into XLA: callers that must not fail
    catch them first.

    Args:
        function: Host function of numpy arrays, one per operand.
        result: Shape and dtype of what `function` returns.
        *operands: Device arrays.

    Returns:
        The function's result as a device array.
    """
    if _primitive is None:
        return io_callback(function, result, *operands, ordered=False)
    return _primitive.bind(
        *operands, function=function, shape=tuple(result.shape), dtype=np.dtype(result.dtype)
    )
