"""Tests that need 4 devices: run in their own pytest invocation (see .ci/run).

    LERAX_MULTIDEVICE=1 XLA_FLAGS=--xla_force_host_platform_device_count=4 \
        python -m pytest tests/multidevice

In the main test run (no `LERAX_MULTIDEVICE=1`) this directory is not collected at
all, so nothing here counts as skipped or passed there. In the dedicated run, fewer
than 4 devices is an error, never a silent skip.
"""

from __future__ import annotations

import os

import pytest

DEDICATED = os.environ.get("LERAX_MULTIDEVICE") == "1"

if not DEDICATED:
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config):
    if not DEDICATED:
        return
    import jax

    if jax.device_count() != 4:
        raise pytest.UsageError(
            f"tests/multidevice needs exactly 4 devices, found {jax.device_count()}: run it "
            "with XLA_FLAGS=--xla_force_host_platform_device_count=4 (see .ci/run)."
        )
