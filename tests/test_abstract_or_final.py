"""Abstract or final inside lerax (STYLE.md): no class of the package overrides a
concrete method of a lerax base class.

Every module under `lerax` is imported and every `eqx.Module` subclass defined in the
package is checked: a method (or property) it defines must not also be defined
concretely by any lerax class it inherits from. Defaults live on partial `Abstract*`
bases that IMPLEMENT an abstract hook; a class that needs other behaviour combines
other bases, it does not override.

The optional hooks of `AbstractCallback` (`update_env`, `log_values`,
`host_receivers`, `config`) have documented defaults that users' callbacks override;
they are the one exception, listed below.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import equinox as eqx

import lerax
from lerax.callback import AbstractCallback

OPTIONAL_HOOKS = {
    (AbstractCallback, "update_env"),
    (AbstractCallback, "log_values"),
    (AbstractCallback, "host_receivers"),
    (AbstractCallback, "config"),
}
"""Concrete defaults meant to be overridden (documented in docs/writing-callbacks.md)."""


def _lerax_modules():
    modules = [lerax]
    for info in pkgutil.walk_packages(lerax.__path__, "lerax."):
        if info.name.endswith("__main__"):  # runs the CLI on import
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def _lerax_module_classes():
    found = {}
    for module in _lerax_modules():
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, eqx.Module)
                and value.__module__.startswith("lerax")
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def _is_abstract(value) -> bool:
    if isinstance(value, property):
        value = value.fget
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    return bool(getattr(value, "__isabstractmethod__", False))


def _is_method(value) -> bool:
    return inspect.isfunction(value) or isinstance(value, (property, staticmethod, classmethod))


def _overrides(cls) -> list[str]:
    found = []
    for name, value in vars(cls).items():
        if name.startswith("__") or not _is_method(value):
            continue
        for base in cls.__mro__[1:]:
            if not base.__module__.startswith("lerax") or name not in vars(base):
                continue
            if (base, name) in OPTIONAL_HOOKS:
                continue
            if not _is_abstract(vars(base)[name]):
                found.append(
                    f"{cls.__module__}.{cls.__qualname__}.{name} overrides the "
                    f"concrete {base.__module__}.{base.__qualname__}.{name}"
                )
    return found


def test_the_walk_sees_the_package():
    classes = _lerax_module_classes()
    assert len(classes) > 100
    for name in ("lerax.algorithm._ppo.PPO", "lerax.callback.stopping._nan_guard.NaNGuard"):
        assert name in classes


def test_no_lerax_class_overrides_a_concrete_method():
    problems = [p for cls in _lerax_module_classes().values() for p in _overrides(cls)]
    assert problems == []


def test_the_check_catches_an_override():
    from lerax.callback import AbstractIterationCallback

    class Overrides(AbstractIterationCallback):
        def continue_training(self, ctx, *, key):
            return True

    Overrides.__module__ = "lerax.fake"
    assert len(_overrides(Overrides)) == 1
