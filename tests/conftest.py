import os

import pytest
import torch

# One intra-op thread in the test processes. The tests count bytes, nodes and rounds, never time;
# with two test processes (make test runs pytest-xdist's -n 2) or other work on a 2-core machine,
# OpenMP's threads spin-wait for each other and a pass at 2^16 elements takes ten times longer.
torch.set_num_threads(1)


def _leave_no_xdist_environment() -> None:
    """A pytest-xdist worker (make test) has PYTEST_XDIST_* variables and its rootdir put on
    PYTHONPATH; the pytest processes that the end-to-end tests start would inherit them, and
    pytest-benchmark disables itself in what looks like an xdist worker: no run file saved. Those
    processes are not xdist workers, so they get the environment a plain pytest run gives them."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID", "PYTEST_XDIST_WORKER_COUNT"):
        os.environ.pop(name, None)
    prefix = os.getcwd() + os.pathsep
    path = os.environ.get("PYTHONPATH", "")
    if path.startswith(prefix):
        if path[len(prefix):]:
            os.environ["PYTHONPATH"] = path[len(prefix):]
        else:
            del os.environ["PYTHONPATH"]


_leave_no_xdist_environment()


# The modules whose tests start pytest and gradbench processes of their own: most of the suite's
# time, in a few long tests. Collected first, they start first under pytest-xdist (make test) and
# the short tests fill in around them, instead of one worker running the last long end-to-end test
# alone at the end. Longest first; the order of the tests within a module is kept.
PROCESS_HEAVY = ("test_counts.py", "test_suite_end_to_end.py", "test_scenarios.py", "test_report_render.py",
                 "test_faults.py", "test_report_cli.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(PROCESS_HEAVY)}
    items.sort(key=lambda item: rank.get(item.path.name, len(PROCESS_HEAVY)))


@pytest.fixture(autouse=True)
def _seeded_and_restored():
    """Every test starts seeded, and must leave grad mode and threads as it found them."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    yield
    assert torch.is_grad_enabled(), "a test left grad mode off"
    assert not torch.is_inference_mode_enabled(), "a test left inference mode on"
    torch.set_num_threads(threads)
