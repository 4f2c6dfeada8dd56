"""What a test needs from the machine: locally a missing tool or data set skips the test with the reason; in CI
(``CI=true``), where .ci/run installs everything, it fails the test instead, so a broken install cannot pass
as a skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing(reason: str) -> NoReturn:
    """Skip the calling test because of ``reason``; under CI, fail it naming the reason."""
    if in_ci():
        pytest.fail(f"CI must provide this: {reason}", pytrace=False)
    pytest.skip(reason)
