"""The runner with fake clocks and probes, and real passes checked for their bookkeeping."""

import pytest
import torch

from bench_lib.analysis.replicates import sampled
from bench_lib.contract.cases import PRESETS, CaseSpec, Preset
from bench_lib.contract.result import AFTER_ROUNDS_KEYS, CASE_KEYS
from bench_lib.measure import devices, runner
from bench_lib.measure.runner import case_info, machine_skip_reason, measure_memory, plan_rounds, prepare, warm_up


class FakeClock:
    """Advances a fixed step per call, like pyperf's fake timer."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class CountingCase:
    def __init__(self):
        self.rounds = 0

    def run_once(self):
        self.rounds += 1


def test_warm_up_runs_at_least_two_rounds_and_returns_the_median():
    case = CountingCase()
    assert warm_up(case, seconds=0.0, clock=FakeClock(0.5)) == 0.5
    assert case.rounds == 2


def test_warm_up_fills_the_requested_time():
    case = CountingCase()
    # The deadline is read at t=1 (so 31); two rounds of 2 reads take t to 5; every further
    # round costs 3 reads (test, start, end), and the test at t=33 is the first past 31.
    warm_up(case, seconds=30.0, clock=FakeClock(1.0))
    assert case.rounds == 2 + 9


@pytest.mark.parametrize("round_seconds,expected", [(1e-6, 1000), (0.004, 100), (0.1, 7), (10.0, 7), (0.0, 1000)])
def test_plan_rounds_fills_the_time_within_bounds(round_seconds, expected):
    preset = Preset(sizes=(1,), seconds_per_case=0.4, min_rounds=7, max_rounds=1000)
    assert plan_rounds(round_seconds, preset) == expected


class RecordingCase:
    """Logs its lifecycle; its pass takes ``cost`` seconds of the shared fake clock."""

    def __init__(self, name, log, clock, cost):
        self.name, self.log, self.clock, self.cost = name, log, clock, cost

    def setup(self):
        self.log.append(f"setup {self.name}")

    def target(self):
        self.clock.now += self.cost
        self.log.append(f"pass {self.name}")

    def teardown(self):
        self.log.append(f"teardown {self.name}")


def test_interleaved_rounds_alternate_order_and_time_only_the_pass():
    clock, log = FakeClock(0.0), []
    cases = [RecordingCase("a", log, clock, 1.0), RecordingCase("b", log, clock, 2.0)]
    samples = runner.interleaved_times(cases, rounds=3, clock=clock)
    assert samples == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    passes = [entry for entry in log if entry.startswith("pass")]
    assert passes == ["pass a", "pass b", "pass b", "pass a", "pass a", "pass b"]
    assert log[:3] == ["setup a", "pass a", "teardown a"]


def quartiles(samples: list[float]) -> dict[str, float]:
    """The median and quartiles the interleaved_* (and pipelined_*, gpu_*) figures get."""
    figures = sampled("x", [samples])
    return {"median": figures["x_median"], "q1": figures["x_q1"], "q3": figures["x_q3"]}


def test_quartiles_are_pytest_benchmarks():
    # Wikipedia's quartile example (method 3 for odd counts), as pytest-benchmark's own tests use.
    assert quartiles([6, 7, 15, 36, 39, 40, 41, 42, 43, 47, 49]) == {"median": 40, "q1": 20.25, "q3": 42.75}
    assert quartiles([5.0]) == {"median": 5.0, "q1": 5.0, "q3": 5.0}


def test_interleaved_stats_cover_every_mode_of_the_group():
    specs = [CaseSpec("elementwise", mode, "forward", 1024, "cpu", "float32") for mode in ("grad", "no_grad")]
    cases = {spec: prepare(spec, seed=0) for spec in specs}
    stats = runner.interleaved_stats(cases, Preset(sizes=(1,), seconds_per_case=0.0, min_rounds=3, max_rounds=3))
    assert set(stats) == set(specs)
    for figures in stats.values():
        assert figures["interleaved_rounds"] == len(figures["interleaved_data"]) == 3
        assert 0 < figures["interleaved_q1"] <= figures["interleaved_median"] <= figures["interleaved_q3"]


def test_gradients_are_reset_between_rounds():
    case = prepare(CaseSpec("mlp", "grad", "step", 1024, "cpu", "float32"), seed=0)
    case.run_once()
    case.setup()
    case.target()
    first = [p.grad.clone() for p in case.model.parameters()]
    case.teardown()
    assert all(p.grad is None for p in case.model.parameters()) and case.x.grad is None
    case.setup()
    case.target()
    for before, p in zip(first, case.model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, before)  # not doubled


def test_backward_builds_a_fresh_graph_every_round_in_setup():
    case = prepare(CaseSpec("elementwise", "grad", "backward", 1024, "cpu", "float32"), seed=0)
    for _ in range(3):
        case.setup()
        graph = case.loss.grad_fn
        assert graph is not None
        case.target()  # would raise "Trying to backward through the graph a second time" if reused
        case.teardown()
        assert case.loss is None


def test_the_timed_pass_waits_for_the_device_after_launching_it(monkeypatch):
    # On CUDA, launch() returns before the kernels ran: without the synchronize, target would time
    # the launch only. The CPU's synchronize is a no-op, so a fake one records the order instead.
    log = []
    monkeypatch.setattr(devices, "synchronize", lambda device: log.append(("synchronize", device.type)))
    case = prepare(CaseSpec("elementwise", "grad", "forward", 1024, "cpu", "float32"), seed=0)
    launch = case.launch
    monkeypatch.setattr(case, "launch", lambda: (log.append("launch"), launch()))
    case.target()
    assert log == ["launch", ("synchronize", "cpu")]
    assert case.loss is not None  # the real pass ran


def test_prepare_is_seeded_so_every_mode_sees_the_same_data():
    a = prepare(CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32"), seed=3)
    b = prepare(CaseSpec("mlp", "no_grad", "forward", 1024, "cpu", "float32"), seed=3)
    assert torch.equal(a.x.detach(), b.x)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True))


class FakeProbe:
    def __init__(self, method, peak, retained=0):
        self.method, self._peak, self._retained = method, peak, retained

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.peak_bytes, self.retained_bytes = self._peak, self._retained


def test_measure_memory_reports_the_probes_and_real_saved_bytes():
    case = prepare(CaseSpec("elementwise", "grad", "forward", 1024, "cpu", "float32"), seed=0)
    memory = measure_memory(case, lambda: FakeProbe("fake-tensors", 123, 45), lambda: FakeProbe("fake-rss", 678))
    assert memory == {
        "peak_tensor_bytes": 123,
        "retained_tensor_bytes": 45,
        # The ledger's, real: x * 2 + 1 and relu(...) alive at once, 2 x 1024 floats.
        "peak_new_tensor_bytes": 2 * 1024 * 4,
        "peak_growth_tensor_bytes": 2 * 1024 * 4,
        "tensor_memory_method": "fake-tensors",
        "cuda_peak_reserved_bytes": None,
        "peak_rss_bytes": 678,
        "rss_method": "fake-rss",
        "saved_bytes": 4096,
        "saved_tensor_count": 1,
        "graph_nodes": 5,
    }
    assert case.loss is None and case.x.grad is None  # left clean for the timed rounds


def test_measure_memory_for_backward_counts_the_graph_its_setup_built():
    case = prepare(CaseSpec("mlp", "grad", "backward", 1024, "cpu", "float32"), seed=0)
    memory = measure_memory(case, lambda: devices.tensor_probe(torch.device("cpu")))
    assert memory["saved_bytes"] == 2 * 1024 * 4
    # backward creates the 6 parameter grads and x's grad (and frees the saved ReLU outputs).
    grads = sum(p.numel() for p in case.model.parameters()) * 4 + 1024 * 4
    assert memory["retained_tensor_bytes"] == grads
    assert memory["peak_tensor_bytes"] >= grads


def test_gross_and_net_peaks_differ_by_the_saved_tensors_backward_frees_first():
    n = 4096  # mlp: 32 x 128
    case = prepare(CaseSpec("mlp", "grad", "backward", n, "cpu", "float32"), seed=0)
    memory = measure_memory(case, lambda: devices.tensor_probe(torch.device("cpu")))
    activation = n * 4
    # Net: backward has freed the two saved ReLU outputs (made by setup's forward) by its peak.
    assert memory["peak_growth_tensor_bytes"] == memory["peak_new_tensor_bytes"] - 2 * activation
    # Gross is the CPU tracker's own figure: the same meaning, whichever device.
    assert memory["peak_new_tensor_bytes"] == memory["peak_tensor_bytes"]
    elementwise = prepare(CaseSpec("elementwise", "grad", "backward", n, "cpu", "float32"), seed=0)
    figures = measure_memory(elementwise, lambda: devices.tensor_probe(torch.device("cpu")))
    # Mean's gradient and ReLU's, n floats each, with the 4-byte seed gradient; the saved ReLU
    # output is still alive then (ReluBackward frees it when it finishes), so net = gross.
    assert figures["peak_new_tensor_bytes"] == figures["peak_growth_tensor_bytes"] == 2 * n * 4 + 4


def test_the_ledger_counts_from_its_mark():
    from bench_lib.measure.memory import TensorLedger

    with TensorLedger() as book:
        before = torch.ones(1024)  # 4 KiB made before the pass
        book.mark()
        during = torch.ones(256)  # 1 KiB made by the pass
        del before  # the pass frees what setup made
        late = torch.ones(512)  # 2 KiB
    assert book.peak_new_bytes == 1024 + 2048
    assert book.peak_growth_bytes == 1024  # never above start + 1 KiB: the 4 KiB went first
    del during, late


def test_case_info_holds_exactly_the_schema_keys():
    case = prepare(CaseSpec("mlp", "grad", "forward", 1000, "cpu", "bfloat16"), seed=0)
    memory = measure_memory(case, lambda: devices.tensor_probe(torch.device("cpu")))
    info = case_info(case, memory, rounds=9)
    # background_cpu and the interleaved figures are added once the timed rounds have run
    assert set(info) == set(CASE_KEYS) - set(AFTER_ROUNDS_KEYS)
    assert {"background_cpu", "interleaved_data", "paired_data"} <= set(AFTER_ROUNDS_KEYS)
    assert info["elements"] == 896 and info["shape"] == "7x128" and info["input_bytes"] == 896 * 2
    assert info["rounds_planned"] == 9 and info["pass"] == "forward"


def test_missing_device_and_oversized_cases_are_skipped_with_a_reason(monkeypatch):
    monkeypatch.setattr(devices, "unavailable_reason", lambda device: "no such device here")
    assert machine_skip_reason(CaseSpec("mlp", "grad", "forward", 1024, "cuda", "float32")) == "no such device here"
    monkeypatch.setattr(devices, "unavailable_reason", lambda device: None)
    monkeypatch.setattr(devices, "free_bytes", lambda device: 10 * 2**30)
    assert machine_skip_reason(CaseSpec("mlp", "grad", "forward", 2**20, "cpu", "float32")) is None
    reason = machine_skip_reason(CaseSpec("mlp", "grad", "forward", 2**32, "cpu", "float32"))
    assert reason.startswith("size 4294967296 needs about 224.0 GiB on cpu, more than 70% of the 10.0 GiB free")


def test_cuda_is_skipped_with_a_reason_when_absent():
    reason = devices.unavailable_reason("cuda")
    assert (reason is None) == torch.cuda.is_available()


@pytest.mark.parametrize(
    "error,expected",
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), True),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
        (ValueError("out of memory"), False),
    ],
)
def test_out_of_memory_errors_are_recognised(error, expected):
    assert devices.is_out_of_memory(error) is expected


def test_errors_that_mean_cannot_run_here_become_skip_reasons():
    spec = CaseSpec("mlp", "grad", "step", 2**30, "cuda", "float16")
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB\nmore detail")
    expected = "out of memory on cuda: CUDA out of memory. Tried to allocate 8.00 GiB"
    assert runner.unrunnable_reason(spec, oom) == expected
    missing = RuntimeError('"addmm_impl_cpu_" not implemented for \'Half\'')
    assert runner.unrunnable_reason(spec, missing).startswith("float16 on cuda is not supported by an op:")
    assert runner.unrunnable_reason(spec, RuntimeError("shapes cannot be multiplied")) is None


def test_every_preset_keeps_round_bounds_sane():
    for preset in PRESETS.values():
        assert 1 <= preset.min_rounds <= preset.max_rounds and preset.seconds_per_case > 0
    assert runner.FIT_FRACTION < 1


def test_the_ledger_counts_only_its_device():
    from bench_lib.measure.memory import TensorLedger

    for device_type, counted in (("cuda", 0), ("cpu", 4096)):
        with TensorLedger(device_type) as book:  # say, save_on_cpu's host copies of a CUDA case's tensors
            book.mark()
            kept = torch.ones(1024)
        assert book.peak_new_bytes == counted
        del kept
