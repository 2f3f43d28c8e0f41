import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded_and_restored():
    """Every test starts seeded, and must leave grad mode and threads as it found them."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    yield
    assert torch.is_grad_enabled(), "a test left grad mode off"
    assert not torch.is_inference_mode_enabled(), "a test left inference mode on"
    torch.set_num_threads(threads)

