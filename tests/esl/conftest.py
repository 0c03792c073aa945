"""The FreeSWITCH captures in ../shared/esl-captures, as test parameters.

A missing ../shared fails the run (it is never skipped): CI lays it beside the clone.
"""

from __future__ import annotations

import pytest
from esl_captures import CAPTURES_DIR, Capture, capture_names

SMALL_CAPTURE_BYTES = 16 * 1024  # small enough to split at every byte


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = capture_names()
    if not names:
        raise pytest.UsageError(f"no captures in {CAPTURES_DIR}: ../shared must sit beside the repository")
    if "capture_name" in metafunc.fixturenames:
        metafunc.parametrize("capture_name", names)
    if "small_capture_name" in metafunc.fixturenames:
        small = [name for name in names if Capture.load(name).size <= SMALL_CAPTURE_BYTES]
        metafunc.parametrize("small_capture_name", small)


@pytest.fixture
def capture(capture_name: str) -> Capture:
    return Capture.load(capture_name)


@pytest.fixture
def small_capture(small_capture_name: str) -> Capture:
    return Capture.load(small_capture_name)
