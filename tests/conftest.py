"""Test-suite wide settings: fast mode, a private reference cache, and skipping GPU tests on machines without a GPU."""

import functools
import os

import pytest

os.environ.setdefault("LABKIT_MODE", "fast")


@pytest.fixture(scope="session", autouse=True)
def reference_cache_folder(tmp_path_factory):
    """A reference cache for this session only (AUTOGRADER_CACHE), so tests never use the one in the user's home."""
    folder = tmp_path_factory.mktemp("reference-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOGRADER_CACHE", str(folder))
        yield folder


@functools.lru_cache(maxsize=None)
def gpu_available():
    """True when the Keras backend sees a GPU."""
    from labkit import environment

    return environment.describe_environment()["gpu"]


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and not gpu_available():
        skip = pytest.mark.skip(reason="needs a GPU (none visible to the Keras backend)")
        for item in gpu_items:
            item.add_marker(skip)
