"""save_on_cpu: skipped on a CPU with its reason; on a GPU, the device's peak falls."""

import pytest
import torch
from scenario_helpers import measured, spec

from bench_lib.measure import runner


def test_on_cpu_there_is_nothing_to_move():
    for variant in ("on_device", "on_cpu"):
        assert runner.static_skip_reason(spec("save_on_cpu", variant, 2**12)) == (
            "save_on_cpu moves saved tensors from a GPU to the host; on cpu they are on the host already")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="save_on_cpu needs a CUDA device")
def test_moving_saved_tensors_to_the_host_lowers_the_device_peak():
    device = measured(spec("save_on_cpu", "on_device", 2**18, device="cuda"))[1]
    host = measured(spec("save_on_cpu", "on_cpu", 2**18, device="cuda"))[1]
    assert device["saved_bytes"] > 0 and host["saved_bytes"] == 0  # its hooks replace the counter's
    assert host["peak_tensor_bytes"] < device["peak_tensor_bytes"]
