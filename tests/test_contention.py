import pytest

from bench_lib.measure.contention import BackgroundLoad


def counters(*values):
    iterator = iter(values)
    return lambda: next(iterator)


def test_others_share_is_system_busy_minus_our_own_over_wall_and_cpus():
    # 10 s wall on 2 CPUs; the system was busy 14 s, 8 s of it ours: others used 6 of 20 CPU-seconds,
    # less 3 ticks of 10 ms that may be rounding: (6 - 0.03) / 20.
    load = BackgroundLoad(counters(100.0, 114.0), counters(50.0, 58.0), counters(0.0, 10.0), cpus=2, tick=0.01)
    with load:
        pass
    assert load.fraction == pytest.approx(5.97 / 20)


def test_tick_rounding_in_a_short_window_is_not_contention():
    # A 4 ms window on 2 CPUs in which one 10 ms tick of someone else's fell: it can be rounding alone.
    load = BackgroundLoad(counters(10.0, 10.01), counters(5.0, 5.0), counters(0.0, 0.004), cpus=2, tick=0.01)
    with load:
        pass
    assert load.fraction == 0.0
    # Four ticks of others in the same window are more than rounding: (0.04 - 0.03) / 0.008.
    busy = BackgroundLoad(counters(10.0, 10.04), counters(5.0, 5.0), counters(0.0, 0.004), cpus=2, tick=0.01)
    with busy:
        pass
    assert busy.fraction == pytest.approx(1.0)


def test_a_quiet_machine_reads_zero_and_tick_noise_is_clamped():
    load = BackgroundLoad(counters(10.0, 11.0), counters(5.0, 6.02), counters(0.0, 1.0), cpus=2, tick=0.01)
    with load:
        pass
    assert load.fraction == 0.0


def test_real_counters_count_a_busy_neighbour():
    # A child process spinning on the other CPU for 0.5 s: at least a quarter of 2 CPUs, less rounding.
    import os
    import subprocess
    import sys
    import time

    if (os.cpu_count() or 1) > 4:
        pytest.skip("the child's share of many CPUs is too small to tell from rounding")
    spin = "import time\nend = time.time() + 0.8\nwhile time.time() < end: pass"
    with BackgroundLoad() as load:
        child = subprocess.Popen([sys.executable, "-c", spin])
        time.sleep(0.6)
    child.wait()  # reaped only now: its CPU time never counted as ours (children_user)
    assert load.fraction > 0.1
