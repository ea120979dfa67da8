"""Shared test setup: offscreen Qt, one compute thread, deterministic seeds."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests use tiny models: a second OpenMP/BLAS thread only spins and waits, and on
# a busy 2-core machine it made some files 5-7x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_compute_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
