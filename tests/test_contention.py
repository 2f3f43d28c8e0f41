import pytest

from bench_lib.contention import BackgroundLoad


def counters(*values):
    iterator = iter(values)
    return lambda: next(iterator)


def test_others_share_is_system_busy_minus_our_own_over_wall_and_cpus():
    # 10 s wall on 2 CPUs; the system was busy 14 s, 8 s of it ours: others used 6 of 20 CPU-seconds.
    load = BackgroundLoad(counters(100.0, 114.0), counters(50.0, 58.0), counters(0.0, 10.0), cpus=2)
    with load:
        pass
    assert load.fraction == pytest.approx(0.3)


def test_a_quiet_machine_reads_zero_and_tick_noise_is_clamped():
    load = BackgroundLoad(counters(10.0, 11.0), counters(5.0, 6.02), counters(0.0, 1.0), cpus=2)
    with load:
        pass
    assert load.fraction == 0.0


def test_real_counters_give_a_fraction():
    with BackgroundLoad() as load:
        sum(range(10**5))
    assert 0.0 <= load.fraction <= 1.0
