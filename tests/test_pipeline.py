"""Pipelined throughput and GPU time (bench_lib.measure.pipeline) with a fake device, and their
bookkeeping on real passes; the real CUDA timer where a GPU is present."""

import time

import pytest
import torch

from bench_lib.analysis import replicates
from bench_lib.contract.cases import CaseSpec
from bench_lib.measure import pipeline, runner
from bench_lib.measure.runner import prepare


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeCase:
    """A pass of ``cost`` host seconds; logs launches and teardowns."""

    def __init__(self, clock: FakeClock, cost: float, log: list) -> None:
        self.clock, self.cost, self.log = clock, cost, log

    def launch(self) -> None:
        self.clock.now += self.cost
        self.log.append("launch")

    def teardown(self) -> None:
        self.log.append("teardown")


class FakeTimer:
    """A device whose events read the fake clock; ``ahead`` answers, in turn, whether the host got
    its batch queued while the device was still held (the last answer repeats)."""

    def __init__(self, clock: FakeClock, log: list, ahead: list[bool] | None = None, flushes: bool = True) -> None:
        self.clock, self.log, self.ahead, self.holds = clock, log, list(ahead or [True]), []
        self.flushes = flushes

    def synchronize(self) -> None:
        self.log.append("sync")

    def flush_l2(self) -> None:
        self.log.append("flush")

    def hold(self, seconds: float) -> None:
        self.holds.append(seconds)
        self.log.append("hold")

    def event(self) -> float:
        self.log.append("event")
        return self.clock.now

    def reached(self, event: float) -> bool:
        self.log.append("reached")
        answer = self.ahead[0] if len(self.ahead) == 1 else self.ahead.pop(0)
        return not answer

    def seconds(self, start: float, end: float) -> float:
        return end - start


def test_pipelined_blocks_queue_a_batch_and_synchronize_once_per_block():
    clock, log = FakeClock(), []
    times = pipeline.pipelined_times(FakeCase(clock, 2e-6, log), blocks=3, timer=FakeTimer(clock, log), clock=clock)
    assert times == pytest.approx([2e-6] * 3)
    blocks = pipeline.WARM_UP_BLOCKS + 3
    assert log.count("launch") == blocks * pipeline.PIPELINE_BATCH
    assert log.count("sync") == 2 * blocks  # one before each block (untimed), one ending it
    # Every launch follows a teardown: each pass frees the previous pass's graph, as a loop does.
    assert all(log[i - 1] == "teardown" for i, entry in enumerate(log) if entry == "launch")
    assert log[-1] == "teardown"


class SlowStartCase(FakeCase):
    """A pass that costs ``first`` host seconds for its first ``slow`` launches, ``cost`` after."""

    def __init__(self, clock: FakeClock, cost: float, log: list, first: float, slow: int) -> None:
        super().__init__(clock, cost, log)
        self.first, self.slow = first, slow

    def launch(self) -> None:
        super().launch()
        if self.log.count("launch") <= self.slow:
            self.clock.now += self.first - self.cost


def test_a_warm_up_block_runs_untimed_before_the_timed_blocks():
    clock, log = FakeClock(), []
    assert pipeline.WARM_UP_BLOCKS == 1
    # The first block after the latency rounds is the slow one; it is not among the samples.
    case = SlowStartCase(clock, 2e-6, log, first=5e-6, slow=pipeline.PIPELINE_BATCH)
    times = pipeline.pipelined_times(case, blocks=5, timer=FakeTimer(clock, log), clock=clock)
    assert times == pytest.approx([2e-6] * 5)
    # Any slower launch past the warm-up block shows.
    clock, log = FakeClock(), []
    case = SlowStartCase(clock, 2e-6, log, first=5e-6, slow=pipeline.PIPELINE_BATCH + 1)
    times = pipeline.pipelined_times(case, blocks=5, timer=FakeTimer(clock, log), clock=clock)
    assert times[0] == pytest.approx(2e-6 + 3e-6 / pipeline.PIPELINE_BATCH) and times[1:] == pytest.approx([2e-6] * 4)


def test_gpu_time_flushes_l2_before_each_pass_and_times_it_between_events():
    clock, log = FakeClock(), []
    timer = FakeTimer(clock, log)
    times = pipeline.gpu_times(FakeCase(clock, 3e-6, log), passes=25, host_seconds=1e-4, timer=timer)
    assert times == pytest.approx([3e-6] * 25)
    assert log.count("flush") == 25
    # Batches of GPU_BATCH passes, each held back for 1.5x the host's time to queue each pass
    # (plus 20 µs for the flush and the events).
    assert timer.holds == pytest.approx([1.8e-3, 1.8e-3, 0.9e-3])
    starts = [i for i, entry in enumerate(log) if entry == "launch"]
    assert all(log[i - 2:i] == ["flush", "event"] and log[i + 1] == "event" for i in starts)
    # The device is held, the hold's end marked, the batch queued, and only then asked whether the
    # device is still held: asked any earlier, the answer would not cover the queueing.
    first_batch = log[:log.index("sync", log.index("hold"))]
    assert first_batch.index("hold") < first_batch.index("event") < starts[0]
    assert first_batch.index("reached") > max(i for i in starts if i < len(first_batch))
    assert first_batch.count("reached") == 1 and first_batch.count("launch") == 10


def test_a_batch_the_device_caught_up_with_is_timed_again_with_a_longer_hold():
    clock, log = FakeClock(), []
    timer = FakeTimer(clock, log, ahead=[False, True])
    times = pipeline.gpu_times(FakeCase(clock, 1e-6, log), passes=10, host_seconds=1e-4, timer=timer)
    assert times is not None and len(times) == 10  # the first attempt's times were dropped
    assert timer.holds == pytest.approx([1.8e-3, 3.6e-3])


def test_gpu_time_is_null_when_the_host_never_gets_ahead():
    clock, log = FakeClock(), []
    timer = FakeTimer(clock, log, ahead=[False])
    assert pipeline.gpu_times(FakeCase(clock, 1e-6, log), passes=10, host_seconds=1e-4, timer=timer) is None
    assert len(timer.holds) == pipeline.HOLD_ATTEMPTS
    assert log[-1] == "teardown"


def test_batches_timed_before_the_host_fell_behind_are_kept_when_there_are_enough():
    clock, log = FakeClock(), []
    timer = FakeTimer(clock, log, ahead=[True, False])  # the first batch gets ahead, no later one
    times = pipeline.gpu_times(FakeCase(clock, 1e-6, log), passes=30, host_seconds=1e-4, timer=timer)
    assert times is not None and len(times) == pipeline.GPU_BATCH == pipeline.GPU_PASSES[0]


def test_figures_hold_every_key_and_fit_the_budget_within_bounds():
    clock, log = FakeClock(), []
    fast = pipeline.figures(FakeCase(clock, 1e-6, log), latency=1e-6, budget_seconds=1.0, timer=FakeTimer(clock, log),
                            clock=clock)
    assert set(fast) == set(pipeline.NULL_FIGURES)
    assert fast["pipelined_batch"] == pipeline.PIPELINE_BATCH
    assert fast["pipelined_rounds"] == pipeline.PIPELINE_BLOCKS[1] and fast["gpu_rounds"] == pipeline.GPU_PASSES[1]
    assert fast["pipelined_median"] == pytest.approx(1e-6) and fast["gpu_median"] == pytest.approx(1e-6)
    assert len(fast["pipelined_data"]) == fast["pipelined_rounds"]
    slow = pipeline.figures(FakeCase(clock, 1e-2, log), latency=1e-2, budget_seconds=0.05, timer=FakeTimer(clock, log))
    assert slow["pipelined_rounds"] == pipeline.PIPELINE_BLOCKS[0] and slow["gpu_rounds"] == pipeline.GPU_PASSES[0]
    never = pipeline.figures(FakeCase(clock, 1e-6, log), 1e-6, 0.01, FakeTimer(clock, log, ahead=[False]))
    assert never["gpu_median"] is None and never["gpu_data"] is None and never["pipelined_median"] is not None
    # No room for the L2 flush buffer: no GPU time (it would be a warm-cache figure), no flush tried.
    full = pipeline.figures(FakeCase(clock, 1e-6, log), 1e-6, 0.01, FakeTimer(clock, log, flushes=False))
    assert full["gpu_median"] is None and full["pipelined_median"] is not None


class HostTimer:
    """A CPU stand-in for the device: the queue is the host itself, so nothing is ever ahead of it
    except what the test says."""

    flushes = True

    def synchronize(self) -> None: ...
    def flush_l2(self) -> None: ...
    def hold(self, seconds: float) -> None: ...
    def event(self) -> int:
        return 0
    def reached(self, event: int) -> bool:
        return False
    def seconds(self, start: int, end: int) -> float:
        return 1e-6


@pytest.mark.parametrize("pass_,pipelinable", [("forward", True), ("step", True), ("backward", False)])
def test_real_passes_that_can_be_queued_leave_nothing_behind(pass_, pipelinable):
    case = prepare(CaseSpec("mlp", "grad", pass_, 2**12, "cpu", "float32"), seed=0)
    assert case.pipelinable is pipelinable
    if not pipelinable:
        return
    times = pipeline.pipelined_times(case, blocks=2, timer=HostTimer())
    assert len(times) == 2 and all(t > 0 for t in times)
    # The last pass's graph, output and gradients are freed: the case is as setup left it.
    assert case.loss is None and all(p.grad is None for p in case.model.parameters())


def test_replicates_pool_their_pipelined_samples_and_must_agree_on_the_batch():
    def run(samples, batch=50):
        info = {"workload": "mlp", "mode": "grad", "pass": "forward", "size": 1024, "device": "cuda",
                "dtype": "float32", "saved_bytes": 1, "saved_tensor_count": 1, "graph_nodes": 3,
                "pipelined_batch": batch, "pipelined_data": samples, "gpu_data": None, "interleaved_data": None,
                "pipelined_median": samples[0] if samples else None}
        stats = {"median": 1.0, "q1": 1.0, "q3": 1.0, "rounds": 1, "data": [1.0]}
        return {"benchmarks": [{"fullname": "case", "extra_info": info, "stats": stats}], "gradbench": {}}

    times = [{"started": "t", "seconds": 1.0}] * 2
    merged = replicates.merge([run([1.0, 2.0]), run([3.0])], times)["benchmarks"][0]["extra_info"]
    assert merged["pipelined_data"] == [1.0, 2.0, 3.0] and merged["pipelined_rounds"] == 3
    assert merged["pipelined_median"] == 2.0 and merged["gpu_median"] is None
    with pytest.raises(ValueError, match="pipelined_batch"):
        replicates.merge([run([1.0]), run([1.0], batch=20)], times)
    # A replicate without the figures (they ran out of memory there) loses nothing but its own.
    partial = replicates.merge([run([1.0]), run(None, batch=None)], times)["benchmarks"][0]["extra_info"]
    assert partial["pipelined_batch"] == 50 and partial["pipelined_median"] is None
    assert [entry["pipelined_median"] for entry in partial["replicates"]] == [1.0, None]


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                   reason="needs a CUDA device (torch.cuda.is_available() is False)")


def full_clocks(device: torch.device, seconds: float = 0.5) -> None:
    """Keep every SM busy for ``seconds``. An idle GPU runs slow: the H200 read 345 MHz idle and
    1980 MHz under load, and went from one to the other between two of nvidia-smi's samples
    200 ms apart, every time. The sleep kernel that holds the device spins for clock cycles, so a
    CudaTimer calibrated during that climb holds the device up to 5.7x too short once it is done,
    and the host cannot get ahead of it."""
    a = torch.randn(4096, 4096, device=device)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(8):
            torch.mm(a, a)
        torch.cuda.synchronize(device)


class SleepCase:
    """A pass whose device time is known: one sleep kernel of ``seconds`` at the timer's clock."""

    def __init__(self, timer, seconds: float) -> None:
        self.timer, self.seconds = timer, seconds

    def launch(self) -> None:
        self.timer.hold(self.seconds)

    def teardown(self) -> None: ...


@requires_cuda
def test_the_cuda_timer_times_a_sleep_kernel_of_known_length():
    """The tolerances: at a steady clock a sleep kernel runs its cycles in the time the calibration
    measured, and events resolve about 0.5 µs, so the figures below are off by a launch's gap (a few
    µs) at most; 10 % leaves room for a few steps of the boost clock, while a calibration taken at
    another clock (345 against 1980 MHz on the H200) would be off by a factor of up to 5.7."""
    from bench_lib.measure import devices

    device = torch.device("cuda")
    full_clocks(device)
    with devices.CudaTimer(device) as timer:
        clock = f"calibrated at {timer.cycles_per_second / 1e6:.0f} MHz"
        start = timer.event()
        timer.hold(2e-3)
        end = timer.event()
        timer.synchronize()
        assert timer.seconds(start, end) == pytest.approx(2e-3, rel=0.1), clock
        # The events against the host's clock: they lie inside the host's wall time around them,
        # and fill all of it but the launch and the synchronize's round trip (7 µs on an H200).
        timer.synchronize()
        wall = time.perf_counter()
        start = timer.event()
        timer.hold(20e-3)
        end = timer.event()
        timer.synchronize()
        wall = time.perf_counter() - wall
        assert 0.9 * wall <= timer.seconds(start, end) <= wall, clock
        # pipeline's figures on passes of 100 µs of device time: the host queues one in a few µs,
        # so back to back they cost the device's time, and so does each between its events.
        found = pipeline.figures(SleepCase(timer, 100e-6), latency=110e-6, budget_seconds=0.05, timer=timer)
    assert found["gpu_data"] is not None, f"the host never got ahead of the held device ({clock})"
    assert found["gpu_median"] == pytest.approx(100e-6, rel=0.1), clock
    assert found["pipelined_median"] == pytest.approx(100e-6, rel=0.1), clock


@requires_cuda
def test_the_cuda_timer_times_a_real_pass_on_the_device():
    from bench_lib.measure import devices

    case = prepare(CaseSpec("elementwise", "no_grad", "forward", 2**22, "cuda", "float32"), seed=0)
    case.run_once()
    full_clocks(case.device)
    latency = runner.warm_up(case, seconds=0.05)
    with devices.CudaTimer(case.device) as timer:
        found = pipeline.figures(case, latency=latency, budget_seconds=0.05, timer=timer)
    clock = f"calibrated at {timer.cycles_per_second / 1e6:.0f} MHz"
    assert timer.cycles_per_second > 1e8, clock  # the sleep kernel's clock, calibrated
    assert found["pipelined_rounds"] >= pipeline.PIPELINE_BLOCKS[0]
    assert found["gpu_data"] is not None, f"the host never got ahead of the held device ({clock})"
    assert all(t > 0 for t in found["gpu_data"]) and found["pipelined_median"] > 0
    # A round (setup, pass, teardown, a synchronize at each end) holds all of the pass's device
    # work plus its launches and a round trip (7 µs on an H200); the L2 flush before each timed
    # pass costs less than that (re-reading the 16 MiB input from memory: 4 µs at 4.8 TB/s).
    assert found["gpu_median"] < latency, (found["gpu_median"], latency, clock)


class FakeGpu:
    """torch.cuda's calls that CudaTimer makes, on a device whose SM clock runs at ``hz``: the sleep
    kernel advances its time, events read it."""

    def __init__(self, hz: float, first_launch: float = 0.0) -> None:
        self.hz, self.now, self.sleeps = hz, 0.0, []
        self.first_launch = first_launch  # seconds the first launch spends loading the kernel's module

    def sleep(self, cycles: int) -> None:
        self.now += cycles / self.hz + (self.first_launch if not self.sleeps else 0.0)
        self.sleeps.append(cycles)

    def event_class(self):
        gpu = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                assert enable_timing
                self.at = None

            def record(self) -> None:
                self.at = gpu.now

            def query(self) -> bool:
                return True

            def elapsed_time(self, end) -> float:
                return (end.at - self.at) * 1e3  # milliseconds, as torch's

        return Event


@pytest.fixture
def fake_gpu(monkeypatch):
    import contextlib

    gpu = FakeGpu(hz=1.5e9)
    monkeypatch.setattr(torch.cuda, "_sleep", gpu.sleep)
    monkeypatch.setattr(torch.cuda, "Event", gpu.event_class())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())
    return gpu


def test_the_cuda_timer_calibrates_its_hold_to_the_sleep_kernels_clock(fake_gpu, monkeypatch):
    from bench_lib.measure import devices

    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda n, dtype, device: real_empty(1, dtype=dtype))
    with devices.CudaTimer(torch.device("cuda")) as timer:
        assert timer.cycles_per_second == pytest.approx(1.5e9)  # not the 2 GHz of a boost clock
        assert timer.flushes
        timer.hold(0.002)
        assert fake_gpu.sleeps[-1] == 3_000_000  # 2 ms at 1.5 GHz
        start = timer.event()
        timer.hold(0.001)
        assert timer.seconds(start, timer.event()) == pytest.approx(0.001)  # seconds, not milliseconds
    assert not timer.flushes  # the flush buffer is gone after the block


def test_the_calibration_leaves_out_the_kernels_first_launch(fake_gpu, monkeypatch):
    # On an H200 at 1980 MHz the sleep kernel's first launch loaded its module between the
    # calibration's events (CUDA's lazy loading): the clock read 171 MHz, every hold 11x too short.
    from bench_lib.measure import devices

    fake_gpu.first_launch = 10e-3
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda n, dtype, device: real_empty(1, dtype=dtype))
    with devices.CudaTimer(torch.device("cuda")) as timer:
        assert timer.cycles_per_second == pytest.approx(1.5e9)


def test_no_room_for_the_flush_buffer_means_no_gpu_time(fake_gpu, monkeypatch):
    from bench_lib.measure import devices

    def full(*_args, **_kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(torch, "empty", full)
    with devices.CudaTimer(torch.device("cuda")) as timer:
        assert not timer.flushes


def test_a_merged_run_keeps_its_replicates_schema_version_from_4_on():
    def run(version):
        info = {"workload": "mlp", "mode": "grad", "pass": "forward", "size": 1024, "device": "cpu",
                "dtype": "float32", "saved_bytes": 1, "saved_tensor_count": 1, "graph_nodes": 3,
                "schema_version": version, "interleaved_data": None}
        stats = {"median": 1.0, "q1": 1.0, "q3": 1.0, "rounds": 1, "data": [1.0]}
        return {"benchmarks": [{"fullname": "case", "extra_info": info, "stats": stats}],
                "gradbench": {"schema_version": version}}

    times = [{"started": "t", "seconds": 1.0}]
    for version, merged_version in ((5, 5), (3, 4), (99, 99)):  # an older REF's, a newer one's (refused at load)
        merged = replicates.merge([run(version)], times)
        assert merged["gradbench"]["schema_version"] == merged_version
        assert merged["benchmarks"][0]["extra_info"]["schema_version"] == merged_version
