"""Orthogonal initialisation under vmap: the same matrices, and no batched QR.

A batched LAPACK QR splits its batch over XLA:CPU's intra-op thread pool and waits
for the parts; two running at once could deadlock a 2-thread pool (a vmapped
`learn` + evaluation over 8 seeds never finished). Policies drawn inside `vmap`
factorise member by member instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.policy._mlp import orthogonal_dense


def _qr_operand_ranks(jaxpr) -> list[int]:
    """The rank of the operand of every `qr` in `jaxpr` and its sub-jaxprs."""
    ranks = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "qr":
            ranks.append(eqn.invars[0].aval.ndim)
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    ranks += _qr_operand_ranks(inner)
    return ranks


def test_vmapped_draws_equal_single_draws_bitwise():
    keys = jr.split(jr.key(0), 5)
    batched = jax.vmap(lambda k: orthogonal_dense(6, 64, 1.4, key=k).kernel)(keys)
    for i in range(5):
        single = orthogonal_dense(6, 64, 1.4, key=keys[i]).kernel
        assert np.array_equal(np.asarray(batched[i]), np.asarray(single))
    # Still orthogonal, scaled by the gain: K K^T = gain^2 I for a (6, 64) kernel.
    gram = jnp.einsum("bij,bkj->bik", batched, batched)
    np.testing.assert_allclose(gram, np.broadcast_to(1.4**2 * np.eye(6), gram.shape), atol=1e-5)


def test_no_batched_qr_under_one_or_two_vmaps():
    env = CartPole()
    keys = jr.split(jr.key(1), 8)
    one = jax.make_jaxpr(jax.vmap(lambda k: MLPActorCriticPolicy(env=env, key=k)))(keys)
    two = jax.make_jaxpr(jax.vmap(jax.vmap(lambda k: MLPActorCriticPolicy(env=env, key=k))))(
        keys.reshape(2, 4)
    )
    for jaxpr in (one.jaxpr, two.jaxpr):
        ranks = _qr_operand_ranks(jaxpr)
        assert ranks and set(ranks) == {2}, ranks


def test_nested_vmap_draws_equal_single_draws():
    keys = jr.split(jr.key(2), 6).reshape(2, 3)
    nested = jax.vmap(jax.vmap(lambda k: orthogonal_dense(4, 8, 1.0, key=k).kernel))(keys)
    assert np.array_equal(
        np.asarray(nested[1, 2]), np.asarray(orthogonal_dense(4, 8, 1.0, key=keys[1, 2]).kernel)
    )
