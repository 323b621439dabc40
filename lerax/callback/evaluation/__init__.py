"""Periodic evaluation of the policy on a separate env, with child callbacks run after
every evaluation and on every new best."""

from ._eval import EvalCallback as EvalCallback
from ._eval import EvalCallbackState as EvalCallbackState
