"""`EvalCallback`: periodic greedy evaluation inside the compiled program."""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key

from lerax import host
from lerax._checks import check_bool, check_int
from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy

from .._abstract import AbstractCallback
from .._context import Evaluation, IterationContext, ResetContext, StepContext, TrainingContext
from .._deployment import acting_policy
from .._gating import evaluate_when_due, select_tree, sends_only_when
from .._host_only import member_prefix
from .._list import CallbackList, CallbackListState, CallbackListStepState
from .._partial import AbstractStatelessCallback
from .._state import AbstractCallbackState


class EvalCallbackState(AbstractCallbackState):
    """Per-run state of `EvalCallback`.

    Attributes:
        key: Base key of the evaluations: evaluation `j` (0-based) runs on
            `jax.random.fold_in(key, j)`.
        num_evals: Evaluations run so far.
        evaluated: Whether the last iteration ran an evaluation.
        new_best: Whether that evaluation set a new best.
        mean_return: `eval/mean_return` of the last evaluation (NaN before any).
        std_return: `eval/std_return` of the last evaluation (NaN before any).
        best_mean_return: The best evaluation mean return (-inf before any).
        best_iteration: The iteration it was measured at (-1 before any).
        best_eval: Its evaluation index (-1 before any).
        best_policy: The policy that achieved it (the initial policy before any).
        children: States of `callback_on_new_best` and `callback_after_eval`, in
            this order (empty states for a missing child).
        lines: The evaluation lines waiting to cross (one row per evaluation:
            iteration, timesteps, mean, std, new best), host-paced.
        ack: Host acknowledgements (keeps crossings in program order).
    """

    key: Key[Array, ""]
    num_evals: Int[Array, ""]
    evaluated: Bool[Array, ""]
    new_best: Bool[Array, ""]
    mean_return: Float[Array, ""]
    std_return: Float[Array, ""]
    best_mean_return: Float[Array, ""]
    best_iteration: Int[Array, ""]
    best_eval: Int[Array, ""]
    best_policy: AbstractPolicy
    children: CallbackListState
    lines: host.EventBuffer
    ack: Int[Array, ""]


# The evaluation lines cross host-paced, about this many times a second (at most
# ~0.5 s behind), and at training end: a run evaluating many times a second crosses a
# few times instead of once per evaluation.
EVAL_LINES_PER_SECOND = 2.0
_LINES_CAPACITY = 16  # evaluations buffered before a crossing is forced
_LINE_WIDTH = 5  # iteration, timesteps, mean, std, new_best


class EvalCallback(AbstractCallback[EvalCallbackState, CallbackListStepState]):
    """Every `every` iterations, evaluate the policy on `eval_env` inside the program.

    An evaluation runs `num_episodes` episodes in parallel (`evaluate_policy`,
    greedy when `deterministic`), records `eval/mean_return` and `eval/std_return` in
    the state, keeps the best policy and its mean return, and prints one line on
    the host per evaluation. The lines wait in a small buffer in the state and cross
    host-paced (about twice a second, all vmapped members in one crossing), when 16
    are waiting, and at training end: every line is printed, in order, at most
    ~0.5 s after its evaluation.

    Cost: the evaluation sits behind a `lax.cond` on "due", so iterations without
    an evaluation do not pay for it. Under the user's `jax.vmap`, a plain `lax.cond`
    on a per-member flag would become a select computing the evaluation for every
    member at every iteration; here the gate is custom-batched instead: it runs
    the (vmapped) evaluation only when ANY member is due, and then for all members,
    keeping the results of the due ones.

    Child callbacks (SB3's `callback_on_new_best` / `callback_after_eval`): their
    `on_iteration` runs, and their `continue_training` is consulted, only on the
    evaluations that set a new best / on every evaluation; their answer is ANDed
    into this callback's. Their context's `training_log` also holds
    `eval/mean_return`, `eval/std_return` and `eval/best_mean_return`, and the
    stopping callbacks (`EarlyStopping`, `StopOnNoImprovement`) then measure the
    evaluations instead of the training episodes. Their states live in this
    callback's state; their host sends are gated off when they do not run. To log
    the evaluations with a `LoggingCallback`, make it (or a `CallbackList` holding
    it) the `callback_after_eval`: it then logs `train/eval/mean_return` etc. at
    every evaluation.

    Training behind `NormalizeObservation`: give the env without the
    normalisation layers (`lerax.env.wrapper.without_normalization`) as `eval_env`
    to measure returns in the task's own units; the evaluated policy then sees
    observations normalised with the training statistics of the moment, pooled
    over the envs (as Stable-Baselines3 syncs `VecNormalize` for its evaluation).

    Args:
        eval_env: The evaluation environment (its array parameters are dynamic).
        every: Iterations between evaluations (static int >= 1).
        num_episodes: Episodes per evaluation (static int >= 1).
        deterministic: Greedy (mode) actions; else sampled.
        max_steps: Step cap per episode (default: the env's `max_episode_steps`).
        callback_on_new_best: A callback run when an evaluation sets a new best.
        callback_after_eval: A callback run after every evaluation.

    Raises:
        TypeError: for an argument of the wrong type.
        ValueError: for `every`, `num_episodes` or `max_steps` below 1.
    """

    eval_env: AbstractEnv
    every: int = eqx.field(static=True)
    num_episodes: int = eqx.field(static=True)
    deterministic: bool = eqx.field(static=True)
    max_steps: int | None = eqx.field(static=True)
    callback_on_new_best: AbstractCallback
    callback_after_eval: AbstractCallback

    def __init__(
        self,
        eval_env: AbstractEnv,
        *,
        every: int,
        num_episodes: int,
        deterministic: bool = True,
        max_steps: int | None = None,
        callback_on_new_best: AbstractCallback | None = None,
        callback_after_eval: AbstractCallback | None = None,
    ):
        if not isinstance(eval_env, AbstractEnv):
            raise TypeError(
                f"EvalCallback: `eval_env` must be an AbstractEnv, got {type(eval_env).__name__}."
            )
        check_int("EvalCallback", "every", every)
        check_int("EvalCallback", "num_episodes", num_episodes)
        if max_steps is not None:
            check_int("EvalCallback", "max_steps", max_steps)
        check_bool("EvalCallback", "deterministic", deterministic)
        for name, child in (
            ("callback_on_new_best", callback_on_new_best),
            ("callback_after_eval", callback_after_eval),
        ):
            if child is not None and not isinstance(child, AbstractCallback):
                raise TypeError(
                    f"EvalCallback: `{name}` must be None or an AbstractCallback, "
                    f"got {type(child).__name__}."
                )
        self.eval_env = eval_env
        self.every = every
        self.num_episodes = num_episodes
        self.deterministic = deterministic
        self.max_steps = max_steps
        none = _NoChild()
        self.callback_on_new_best = none if callback_on_new_best is None else callback_on_new_best
        self.callback_after_eval = none if callback_after_eval is None else callback_after_eval

    _channel = "lerax.EvalCallback"

    @property
    def _children(self) -> CallbackList:
        """Both children as one list (step and start/end hooks run on it as they are)."""
        return CallbackList((self.callback_on_new_best, self.callback_after_eval))

    def _child_contexts(self, ctx, **fields):
        for i, child in enumerate(self._children.callbacks):
            state, step_state = ctx.state.children.states[i], ctx.step_state.step_states[i]
            yield child, dataclasses.replace(ctx, state=state, step_state=step_state, **fields)

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EvalCallbackState:
        key, children_key = jr.split(key)
        zero = jnp.zeros((), jnp.int32)
        nan = jnp.asarray(jnp.nan, jnp.float32)
        return EvalCallbackState(
            key=key,
            num_evals=zero,
            evaluated=jnp.asarray(False),
            new_best=jnp.asarray(False),
            mean_return=nan,
            std_return=nan,
            best_mean_return=jnp.asarray(-jnp.inf, jnp.float32),
            best_iteration=zero - 1,
            best_eval=zero - 1,
            best_policy=ctx.policy,
            children=self._children.reset(ctx, key=children_key),
            lines=host.EventBuffer.empty(_LINES_CAPACITY, _LINE_WIDTH),
            ack=zero,
        )

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> CallbackListStepState:
        return self._children.step_reset(ctx, key=key)

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> CallbackListStepState:
        return self._children.on_step(ctx, key=key)

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> EvalCallbackState:
        s = ctx.state
        due = ctx.iteration_count % self.every == 0
        mean, std = evaluate_when_due(
            due,
            self.eval_env,
            acting_policy(ctx, self.eval_env),
            num_episodes=self.num_episodes,
            deterministic=self.deterministic,
            max_steps=self.max_steps,
            key=s.key,
            index=s.num_evals,
        )
        new_best = due & (mean > s.best_mean_return)
        evaluation = Evaluation(
            mean_return=mean,
            std_return=std,
            best_mean_return=jnp.where(new_best, mean, s.best_mean_return),
        )
        log = {
            **ctx.training_log,
            "eval/mean_return": mean,
            "eval/std_return": std,
            "eval/best_mean_return": evaluation.best_mean_return,
        }
        children = []
        keys = jr.split(key, 2)
        for i, ((child, child_ctx), event, k) in enumerate(
            zip(
                self._child_contexts(ctx, training_log=log, evaluation=evaluation),
                (new_best, due),
                keys,
                strict=True,
            )
        ):
            # The child's channels, as `self._children` (a CallbackList) names them.
            with sends_only_when(event), host.channel_scope(str(i)):
                new = child.on_iteration(child_ctx, key=k)
            children.append(select_tree(event, new, child_ctx.state))
        line = {
            "iteration": ctx.iteration_count,
            "timesteps": ctx.num_timesteps,
            "mean": mean,
            "std": std,
            "new_best": new_best,
        }
        lines, ack = s.lines.append(line, when=due).flush(self._channel, ctx.iteration_count)
        return EvalCallbackState(
            key=s.key,
            num_evals=s.num_evals + due.astype(jnp.int32),
            evaluated=due,
            new_best=new_best,
            mean_return=jnp.where(due, mean, s.mean_return),
            std_return=jnp.where(due, std, s.std_return),
            best_mean_return=jnp.where(new_best, mean, s.best_mean_return),
            best_iteration=jnp.where(new_best, ctx.iteration_count, s.best_iteration),
            best_eval=jnp.where(new_best, s.num_evals, s.best_eval),
            best_policy=select_tree(new_best, ctx.policy, s.best_policy),
            children=CallbackListState(tuple(children)),
            lines=lines,
            ack=s.ack + ack,
        )

    def _start_end(self, hook: str, ctx: TrainingContext, key) -> EvalCallbackState:
        children_ctx = dataclasses.replace(ctx, state=ctx.state.children)
        children = getattr(self._children, hook)(children_ctx, key=key)
        return dataclasses.replace(ctx.state, children=children)

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]):
        # Lines a resumed state still held were printed by the run that saved it.
        lines = ctx.state.lines.restart(ctx.iteration_count)
        state = dataclasses.replace(ctx.state, lines=lines)
        return self._start_end("on_training_start", dataclasses.replace(ctx, state=state), key)

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]):
        # Every evaluation line still waiting crosses now (early stop included).
        lines, ack = ctx.state.lines.flush(self._channel, ctx.iteration_count, force=True)
        state = dataclasses.replace(ctx.state, lines=lines, ack=ctx.state.ack + ack)
        return self._start_end("on_training_end", dataclasses.replace(ctx, state=state), key)

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        go_on, events = jnp.asarray(True), (ctx.state.new_best, ctx.state.evaluated)
        keys = jr.split(key, 2)
        for i, ((child, child_ctx), event, k) in enumerate(
            zip(self._child_contexts(ctx), events, keys, strict=True)
        ):
            with sends_only_when(event), host.channel_scope(str(i)):
                answer = jnp.asarray(child.continue_training(child_ctx, key=k), bool)
            go_on = go_on & jnp.where(event, answer, True)
        return go_on

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        return {
            self._channel: _EvaluationLines(self.num_episodes),
            **self._children.host_receivers(run),
        }

    def config(self) -> dict[str, Any]:
        return {
            "type": "EvalCallback",
            "eval_env": self.eval_env.name,
            "every": self.every,
            "num_episodes": self.num_episodes,
            "deterministic": self.deterministic,
            "max_steps": self.max_steps,
            **{
                name: None if isinstance(child, _NoChild) else child.config()
                for name, child in zip(_CHILDREN, self._children.callbacks, strict=True)
            },
        }

    def __repr__(self) -> str:
        config = self.config()
        children = "".join(
            f", {name}={child!r}"
            for name, child in zip(_CHILDREN, self._children.callbacks, strict=True)
            if config[name] is not None
        )
        return (
            f"EvalCallback({self.eval_env.name}, every={self.every}, "
            f"num_episodes={self.num_episodes}, deterministic={self.deterministic}{children})"
        )


_CHILDREN = ("callback_on_new_best", "callback_after_eval")


class _NoChild(AbstractStatelessCallback):
    """Stands for a missing child callback."""


class _EvaluationLines:
    """The host side of the evaluation lines: print every crossed line in order, and
    tell the program when to cross next (`EVAL_LINES_PER_SECOND`)."""

    def __init__(self, num_episodes: int):
        self.num_episodes = num_episodes
        self.pace = host.Pace(EVAL_LINES_PER_SECOND)
        self.pace(0, time.perf_counter(), restart=True)

    def __call__(self, rows: dict[str, np.ndarray], index: np.ndarray) -> int:
        columns = host.decode_columns(rows["values"], rows["schema"])
        counts = np.asarray(rows["count"]).reshape(-1)
        if not columns or not counts.any():
            return 1
        # All members' lines of this crossing, by iteration then member.
        lines = sorted(
            (int(columns["iteration"][r, c]), r, c)
            for r in range(counts.size)
            for c in range(int(counts[r]))
        )
        for iteration, r, c in lines:
            print(
                f"{member_prefix(index, r)}eval after iteration {iteration} "
                f"({int(columns['timesteps'][r, c])} steps): mean return "
                f"{float(columns['mean'][r, c]):.2f} +/- {float(columns['std'][r, c]):.2f} "
                f"over {self.num_episodes} episodes"
                + (" (new best)" if bool(columns["new_best"][r, c]) else ""),
                file=sys.stdout,
                flush=True,
            )
        return self.pace(lines[-1][0], time.perf_counter())
