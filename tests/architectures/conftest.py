"""The ``stand_ins`` fixture: every fused kernel replaced by its CPU stand-in."""

import pytest
from _kernel_stand_ins import STAND_INS, replace_kernel

from architectures import _fused


@pytest.fixture
def stand_ins(monkeypatch):
    """Every kernel replaced by its stand-in; returns the names of the kernels called, in order."""
    calls: list[str] = []

    def recording(name, fn):
        def call(*args, **kwargs):
            calls.append(name)
            return fn(*args, **kwargs)

        return call

    for name, fn in STAND_INS.items():
        kernel = _fused.KERNELS[name]
        replace_kernel(monkeypatch, kernel.module, kernel.attribute, recording(name, fn))
    _fused.import_error.cache_clear()
    yield calls
    _fused.import_error.cache_clear()
