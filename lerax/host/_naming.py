"""How vmapped members are named on the host (run names, directories)."""

from __future__ import annotations


def member_label(index: tuple) -> str:
    """A member's name from its index tuple.

    `""` for a plain run, `seed_<i>` under one `vmap`, `<i>_<j>` under nested
    `vmap`s, and `aggregate` for the across-members view of a population. Used for
    run names (`<name>/seed_3`) and directories (`checkpoints/<dir>/seed_3/`).
    """
    if not index:
        return ""
    if index == ("aggregate",):
        return "aggregate"
    if len(index) == 1:
        return f"seed_{index[0]}"
    return "_".join(str(i) for i in index)
