"""Names that become paths stay inside their root.

A run name (`LoggingCallback(name=...)`, a member run `<name>/seed_3`) or a folder
name (`SaveCheckpoints(dirname=...)`, `RecordVideos(dirname=...)`) is joined to a
root directory. An absolute path would replace the root, a `..` would climb out of
it, and an empty or `.` component makes two spellings of one folder; each is
refused when the name is given, so nothing is ever written outside the root.
"""

from __future__ import annotations

import ntpath

ACCEPTED = (
    "a relative path: one or more names separated by '/', none of them empty, '.' or "
    "'..' (e.g. 'cartpole' or 'ppo/cartpole')"
)


def check_relative_name(owner: str, argument: str, value: str) -> str:
    """Return `value` if it is a relative path that stays inside its root.

    Both `/` and `\\` separate components (a name must mean the same folder on
    every system), so `"a\\..\\b"` is refused like `"a/../b"`.

    Args:
        owner: Who checks, for the message (e.g. `"SaveCheckpoints"`).
        argument: The argument's name, for the message (e.g. `"dirname"`).
        value: The name to check (a `str`; type checks belong to the caller).

    Returns:
        `value`, unchanged.

    Raises:
        ValueError: `value` is absolute (`/x`, `\\x`, `C:\\x`, `C:x`) or has an empty,
            `.` or `..` component; the message names `argument` and what is accepted.
    """
    problem = _problem(value)
    if problem is not None:
        raise ValueError(f"{owner}: `{argument}` must be {ACCEPTED}; got {value!r} ({problem}).")
    return value


def _problem(value: str) -> str | None:
    if ntpath.splitdrive(value)[0]:
        return "it names a drive"
    if value.startswith(("/", "\\")):
        return "it is absolute"
    for component in value.replace("\\", "/").split("/"):
        if component in ("", ".", ".."):
            return "it has an empty component" if not component else f"it has a {component!r}"
    return None
