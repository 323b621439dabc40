"""mkdocs hook: expand `<!-- api-members: MODULE [exclude=A,B] -->` on an API page into
one mkdocstrings `::: MODULE.Name` directive per public member of MODULE.

Public members are the names in the module's `__all__`, or else its names without a
leading underscore, keeping only objects defined in MODULE or its private submodules
(re-exports from other lerax packages are documented on their own page) and leaving
out those defined under an `exclude`d module (documented on another page). The pages
therefore follow the packages' `__init__` exports without a hand-kept list.
"""

from __future__ import annotations

import importlib
import re
import types

MARKER = re.compile(
    r"^<!-- api-members: (?P<module>[\w.]+)(?: exclude=(?P<exclude>[\w.,]+))? -->$", re.M
)


def _within(origin: str, module: str) -> bool:
    return origin == module or origin.startswith(module + ".")


def public_members(module_name: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """The public names of `module_name` that its API page documents, in export order."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    members = []
    for name in names:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            continue
        origin = getattr(obj, "__module__", None) or ""
        if not _within(origin, module_name):
            continue
        if any(_within(origin, excluded) for excluded in exclude):
            continue
        members.append(name)
    return members


def expand(markdown: str) -> str:
    """Replace every marker of `markdown` by its `:::` directives."""

    def directives(match: re.Match) -> str:
        module = match["module"]
        exclude = tuple(filter(None, (match["exclude"] or "").split(",")))
        return "\n\n".join(f"::: {module}.{name}" for name in public_members(module, exclude))

    return MARKER.sub(directives, markdown)


def on_page_markdown(markdown, page, config, files):  # the mkdocs hook
    return expand(markdown)
