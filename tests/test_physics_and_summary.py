from bench_lib.analysis import physics
from bench_lib.contract.result import CaseResult
from bench_lib.contract.units import format_bytes, size_label, time_unit
from bench_lib.report.summary import format_summary


def case(mode, median, q1=None, q3=None, *, workload="elementwise", pass_="forward", size=1024, saved=0, peak="auto",
         busy=0.0):
    return {
        "name": f"test_gradbench[{workload}-{pass_}-{mode}-{size}]",
        "extra_info": {
            "workload": workload, "mode": mode, "pass": pass_, "size": size,
            "device": "cpu", "dtype": "float32", "saved_bytes": saved,
            "peak_tensor_bytes": 2 * saved if peak == "auto" else peak, "background_cpu": busy,
        },
        "stats": {"median": median, "q1": median * 0.98 if q1 is None else q1, "q3": median * 1.02 if q3 is None else q3},
    }


def test_consistent_run_has_no_violations():
    cases = [case("grad", 12e-6, saved=4096), case("no_grad", 10e-6), case("inference_mode", 9e-6)]
    assert physics.violations(cases) == []


def test_grad_faster_than_no_grad_beyond_noise_is_a_violation():
    cases = [case("grad", 1.5e-3, saved=4096), case("no_grad", 13.8e-3)]
    assert physics.violations(cases) == [
        "elementwise forward n=1024 cpu float32: grad median 1.50 ms is below no_grad median 13.8 ms beyond noise"
        " (sequential rounds)"
    ]


def interleaved(case_, median):
    case_["extra_info"].update(interleaved_median=median, interleaved_q1=median * 0.98, interleaved_q3=median * 1.02)
    return case_


def test_interleaved_rounds_decide_when_both_cases_have_them():
    # Sequential rounds say grad is 3x faster (drift); the interleaved rounds of the same run agree with physics.
    drifted = [interleaved(case("grad", 10e-6), 12e-6), interleaved(case("no_grad", 30e-6), 11e-6)]
    assert physics.violations(drifted) == []
    assert format_summary(drifted)[6] == "  grad / no_grad*       1.09x"
    wrong = [interleaved(case("grad", 12e-6), 8e-6), interleaved(case("no_grad", 11e-6), 11e-6)]
    [problem] = physics.violations(wrong)
    assert problem.endswith("grad median 8.00 µs is below no_grad median 11.0 µs beyond noise (interleaved rounds)")
    # Only one side interleaved: each case's compared figure, as the tables show it, named as mixed.
    mixed = [interleaved(case("grad", 12e-6), 8e-6), case("no_grad", 11e-6)]
    source, grad, no_grad = physics.comparable_times(*map(CaseResult.of, mixed))
    assert (source, grad.median, no_grad.median) == ("mixed", 8e-6, 11e-6)
    # The tables' grad/no_grad of 0.73x is a violation, not a pass checked on other rounds.
    [problem] = physics.violations(mixed)
    assert problem.endswith("grad median 8.00 µs is below no_grad median 11.0 µs beyond noise (mixed rounds)")


def tight(mode, median):
    """A case whose middle half spans only 2 µs around its median: no two of them overlap."""
    return case(mode, median, q1=median - 1e-6, q3=median + 1e-6)


def test_small_or_noisy_differences_are_not_violations():
    # Quartiles apart (grad q3 0.971 ms < no_grad q1 0.999 ms), so only the 5 % tolerance decides:
    # 3 % faster is within it, 7 % faster is not.
    assert physics.violations([tight("grad", 0.97e-3), tight("no_grad", 1e-3)]) == []
    assert physics.violations([tight("grad", 0.93e-3), tight("no_grad", 1e-3)]) == [
        "elementwise forward n=1024 cpu float32: grad median 930 µs is below no_grad median 1.00 ms beyond noise"
        " (sequential rounds)"
    ]
    # 10 % faster but the IQRs overlap (grad q3 0.918 > q1 0.9): noise.
    assert physics.violations([case("grad", 0.90e-3), case("no_grad", 1e-3, q1=0.9e-3)]) == []
    assert len(physics.violations([case("grad", 0.90e-3), case("no_grad", 1e-3, q1=0.95e-3)])) == 1


def test_backward_passes_are_not_compared_and_saved_bytes_outside_grad_are():
    cases = [case("grad", 1e-6, pass_="backward"), case("inference_mode", 5e-6, saved=16)]
    assert physics.violations(cases) == [
        "test_gradbench[elementwise-forward-inference_mode-1024]: 16 bytes saved for backward under inference_mode"
    ]


def test_a_forward_peaking_below_its_saved_bytes_is_a_violation():
    assert physics.violations([case("grad", 1e-6, saved=4096, peak=4096)]) == []
    assert physics.violations([case("grad", 1e-6, saved=4096, peak=4095)]) == [
        "test_gradbench[elementwise-forward-grad-1024]: peak tensor memory 4095 bytes is below "
        "the 4096 bytes saved for backward"
    ]
    assert physics.violations([case("grad", 1e-6, saved=4096, peak=None)]) == []  # not measured: nothing to check
    # backward's peak is measured from a start that already holds the saved tensors
    assert physics.violations([case("grad", 1e-6, pass_="backward", saved=4096, peak=0)]) == []


def test_violations_and_summary_name_the_contention_behind_them():
    cases = [case("grad", 1.5e-3, saved=4096, busy=0.45), case("no_grad", 13.8e-3, busy=0.02)]
    [problem] = physics.violations(cases)
    assert problem.endswith("beyond noise (sequential rounds) (other processes used 45% of the CPUs)")
    assert physics.contended(cases) == [("test_gradbench[elementwise-forward-grad-1024]", 0.45)]
    lines = format_summary(cases)
    assert lines[-3] == (
        "contention: 1 case(s) were timed while other processes used more than 10% of the CPUs; "
        "their times are suspect (worst: test_gradbench[elementwise-forward-grad-1024] 45%)"
    )


def test_units_and_labels():
    assert time_unit([2.5]) == (1.0, "s") and time_unit([3e-3]) == (1e-3, "ms") and time_unit([4e-6]) == (1e-6, "µs")
    assert time_unit([5e-10]) == (1e-9, "ns") and time_unit([2.5, 4e-6]) == (1e-6, "µs")  # the smallest decides
    assert size_label(1024) == "2^10" and size_label(1000) == "1000"
    assert format_bytes(512) == "512 B" and format_bytes(4096) == "4.0 KiB" and format_bytes(64 * 2**20) == "64.0 MiB"


def test_summary_table_has_one_unit_modes_as_rows_sizes_as_columns_and_the_check():
    cases = [
        case("grad", 12e-6, saved=4096), case("no_grad", 10e-6),
        case("grad", 2e-3, size=2**20, saved=4 * 2**20), case("no_grad", 1.9e-3, size=2**20),
    ]
    lines = format_summary(cases)
    assert lines[2:7] == [
        "elementwise forward on cpu float32 (median, µs)",
        "  mode                   2^10       2^20",
        "  grad                   12.0       2000",
        "  no_grad                10.0       1900",
        "  grad / no_grad        1.20x      1.05x",
    ]
    assert lines[7] == "  saved (grad)        4.0 KiB    4.0 MiB"
    assert lines[-1].startswith("physics check: ok")
