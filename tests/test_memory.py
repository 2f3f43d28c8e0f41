"""Memory probes against allocations whose size is known, and the analytic saved bytes."""

import math
import os

import pytest
import torch

from bench_lib.contract.cases import PRESETS, CaseSpec
from bench_lib.measure import memory
from bench_lib.measure.memory import (
    CpuTensorTracker,
    RssProbe,
    SavedTensorCounter,
    count_graph_nodes,
    peak_rss_supported,
    rss_error_bytes,
)
from bench_lib.measure.runner import DTYPES, prepare
from bench_lib.measure.workloads import WORKLOADS

MiB = 2**20


def test_tracker_counts_new_storages_peak_and_retained():
    with CpuTensorTracker() as tracker:
        a = torch.empty(1000)  # 4000 bytes
        b = torch.empty(500, dtype=torch.float64)  # 4000 bytes
        del a
        c = torch.empty(250)  # 1000 bytes
    assert tracker.peak_bytes == 8000
    assert tracker.retained_bytes == 5000
    del b, c


def test_tracker_ignores_views_inplace_and_storages_from_before():
    before = torch.zeros(1000)
    with CpuTensorTracker() as tracker:
        before.add_(1.0)  # in place on a storage that existed before
        view = before[10:20]  # shares the storage
        view.mul_(2.0)
    assert tracker.peak_bytes == 0 and tracker.retained_bytes == 0


def test_tracker_sees_temporaries_freed_inside_a_chain():
    x = torch.randn(2**16)
    with CpuTensorTracker() as tracker:
        y = torch.relu(x * 2.0 + 1.0)
    # x*2 and its +1 coexist for a moment; then only relu's output (and nothing else) remains.
    assert tracker.peak_bytes == 2 * x.nbytes
    assert tracker.retained_bytes == x.nbytes
    del y


def test_tracker_figures_do_not_change_after_exit():
    with CpuTensorTracker() as tracker:
        kept = torch.empty(100)
    del kept
    assert tracker.retained_bytes == 400


def saved_bytes(workload, mode, size, dtype="float32"):
    case = prepare(CaseSpec(workload, mode, "forward", size, "cpu", dtype), seed=0)
    with SavedTensorCounter(case.tensors_before_pass()) as counter:
        case.target()
    return counter.saved_bytes, case


def analytic(workload, size, dtype="float32"):
    spec = WORKLOADS[workload]
    return spec.saved_bytes(spec.input_shape(size), DTYPES[dtype].itemsize)


@pytest.mark.parametrize("size", PRESETS["default"].sizes)
@pytest.mark.parametrize("workload", ["elementwise", "mlp"])
def test_grad_saves_exactly_the_analytic_bytes_at_every_default_size(workload, size):
    measured, case = saved_bytes(workload, "grad", size)
    assert measured == analytic(workload, size)
    # The analytic rule itself, written out: relu's output; each ReLU output of the MLP once.
    relus = 1 if workload == "elementwise" else 2
    assert measured == relus * case.x.numel() * 4


def test_known_saved_byte_figures():
    assert saved_bytes("elementwise", "grad", 2**20)[0] == 4 * 2**20  # 4 MiB
    assert saved_bytes("mlp", "grad", 2**14)[0] == 2 * 2**14 * 4  # 128 KiB
    # attention, 2^14 elements = 4 x 128 x 32: q, k, v (3 x 64 KiB) and softmax (4 x 128 x 128 x 4)
    assert saved_bytes("attention", "grad", 2**14)[0] == 3 * 2**16 + 4 * 128 * 128 * 4


@pytest.mark.parametrize("size", [2**10, 2**14, 2**17, 1000])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_attention_and_other_dtypes_match_the_analytic_bytes(size, dtype):
    for workload in ("elementwise", "mlp", "attention"):
        assert saved_bytes(workload, "grad", size, dtype)[0] == analytic(workload, size, dtype)


@pytest.mark.parametrize("workload", ["elementwise", "mlp", "attention"])
@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_no_graph_modes_save_nothing(workload, mode):
    assert saved_bytes(workload, mode, 2**14)[0] == 0


def test_detach_saves_what_the_parameters_need_and_nothing_for_a_parameterless_workload():
    assert saved_bytes("mlp", "detach", 2**14)[0] == analytic("mlp", 2**14)
    assert saved_bytes("elementwise", "detach", 2**14)[0] == 0


def test_saved_counter_counts_a_storage_saved_twice_once_and_skips_existing():
    x = torch.randn(100, requires_grad=True)
    with SavedTensorCounter([x]) as counter:
        y = x.exp()  # saves its output (new)
        z = y * y  # saves y twice (same storage)
        w = z * x  # saves z (new) and x (existed before)
    assert counter.saved_count == 2 and counter.saved_bytes == 800
    del w


def test_graph_node_count():
    assert count_graph_nodes(None) == 0
    assert count_graph_nodes(torch.ones(2)) == 0
    x = torch.ones(3, requires_grad=True)
    # MeanBackward <- ReluBackward <- AddBackward <- MulBackward <- AccumulateGrad(x)
    assert count_graph_nodes(torch.relu(x * 2.0 + 1.0).mean()) == 5
    _, case = saved_bytes("mlp", "grad", 1024)
    # mean, 3 x (addmm + t) + 2 relu, AccumulateGrad for x and 6 parameters
    assert count_graph_nodes(case.loss) == 1 + 3 * 2 + 2 + 1 + 6


needs_clear_refs = pytest.mark.skipif(not peak_rss_supported(),
                                      reason="needs /proc/self/clear_refs (Linux) for the peak RSS counter")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def a_64_mib_block_after_a_128_mib_peak() -> RssProbe:
    """The probe around a 64 MiB block freed inside it, after a 128 MiB block freed between the
    probe's construction (which checks for clear_refs) and its start: a figure that is not reset
    at the start reads the earlier, higher peak. The earlier block also brings in the code and
    thread pool that filling a tensor needs, so the measured block is the only new memory."""
    probe = RssProbe()
    earlier = torch.ones(32 * MiB)  # 128 MiB, every page touched
    del earlier  # glibc maps blocks this big with mmap and unmaps them on free: RSS drops back
    with probe:
        block = torch.ones(16 * MiB)  # 64 MiB, every page touched
        del block
    return probe


@needs_clear_refs
def test_peak_rss_sees_a_64_mib_allocation_freed_before_the_end():
    probe = a_64_mib_block_after_a_128_mib_peak()
    assert probe.method == "vmhwm-reset"
    error = probe.error_bytes  # the kernel's approximate RSS counters (memory.rss_error_bytes)
    if error > 16 * MiB:
        pytest.skip(f"this kernel's RSS counters are exact only to {error / MiB:.0f} MiB here ({os.cpu_count()} CPUs)")
    # The block's pages and one more: glibc's chunk header shares the first page with the data.
    mapped = 64 * MiB + PAGE
    assert mapped - error <= probe.peak_bytes <= mapped + error, (
        f"{probe.peak_bytes:,} bytes against {mapped:,} ± {error:,} (the kernel's counting error)")


@needs_clear_refs
@pytest.mark.parametrize("kept", ["neither reset", "only the support check's"])
def test_the_64_mib_check_fails_without_the_peak_reset_at_the_start(monkeypatch, kept):
    """What the check above catches: without the reset at the probe's start, the figure holds the
    earlier 128 MiB peak, which no counting error brings within the 64 MiB bounds."""
    real = memory._CLEAR_REFS
    writes = []

    class Resets:
        def write_text(self, text):
            writes.append(text)
            if kept == "only the support check's" and len(writes) == 1:
                real.write_text(text)

    monkeypatch.setattr(memory, "_CLEAR_REFS", Resets())
    probe = a_64_mib_block_after_a_128_mib_peak()
    assert writes == ["5", "5"]  # the support check's and the start's, both dropped or the start's
    assert probe.peak_bytes > 64 * MiB + PAGE + probe.error_bytes
    assert probe.peak_bytes >= 128 * MiB - probe.error_bytes


def test_the_rss_error_follows_the_kernels_counters():
    # 6.2 on: per-CPU batches of max(32, 2 x CPUs) pages, anonymous and file pages; from 6.16
    # VmRSS is summed exactly, so only the peak reading is approximate.
    assert rss_error_bytes("6.18.44-fc-v1252-gpu", cpus=16) == 1 * 2 * 31 * 16 * PAGE
    assert rss_error_bytes("6.8.0-45-generic", cpus=16) == 2 * 2 * 31 * 16 * PAGE
    assert rss_error_bytes("6.18.0", cpus=64) == 1 * 2 * 127 * 64 * PAGE
    assert rss_error_bytes("5.15.0", cpus=64, threads=3) == 2 * 2 * 64 * 3 * PAGE  # per-thread caches
    # The H200's failing figure, 65,593,344 bytes for a 64 MiB block (16 CPUs, Linux 6.18), is
    # within the error there; it was below the 63 MiB the test asked for.
    h200 = 65_593_344
    assert h200 < 63 * MiB
    assert abs(h200 - (64 * MiB + PAGE)) <= rss_error_bytes("6.18.44-fc-v1252-gpu", cpus=16)


def test_workload_shapes_round_sizes_down():
    assert WORKLOADS["mlp"].input_shape(1000) == (7, 128)
    assert WORKLOADS["mlp"].input_shape(64) == (1, 64)
    assert WORKLOADS["attention"].input_shape(2**20) == (256, 128, 32)
    assert WORKLOADS["attention"].input_shape(1) == (1, 1, 1)
    for workload in WORKLOADS.values():
        for size in (1, 7, 1000, 2**20):
            assert 0 < math.prod(workload.input_shape(size)) <= size


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is available here")


@requires_cuda
def test_cuda_allocator_probe_sees_a_known_allocation():
    from bench_lib.measure.memory import CudaAllocatorProbe

    device = torch.device("cuda")
    with CudaAllocatorProbe(device) as probe:
        block = torch.ones(16 * MiB, device=device)  # 64 MiB
        kept = torch.ones(MiB, device=device)  # 4 MiB
        del block
    assert probe.peak_bytes == 68 * MiB and probe.retained_bytes == 4 * MiB
    del kept


@requires_cuda
def test_cuda_cases_save_the_analytic_bytes_and_measure_memory():
    from bench_lib.measure import devices
    from bench_lib.measure.runner import measure_memory

    for workload in ("elementwise", "mlp", "attention"):
        case = prepare(CaseSpec(workload, "grad", "step", 2**16, "cuda", "float32"), seed=0)
        memory = measure_memory(case, lambda device=case.device: devices.tensor_probe(device))
        assert memory["saved_bytes"] == analytic(workload, 2**16)
        assert memory["tensor_memory_method"] == "cuda-allocator"
        assert memory["peak_tensor_bytes"] >= memory["saved_bytes"]
