"""claims.py on small hand-written run-file dicts: each verdict, the figures, and the edges."""

import subprocess
import sys

import pytest

from bench_lib.analysis import claims
from bench_lib.analysis.claims import FAILS, HOLDS, NOT_MEASURED, Check
from bench_lib.scenarios import SCENARIOS

KiB = 1024
MS = 1e-3


def bench(scenario, variant, median, *, peak=0, mode="grad", workload=None, size=65536, spread=0.01,
          saved=0, nodes=0, k=None, grads=198144, device="cpu"):
    workload = workload or {"accumulation": "mlp", "inplace": "tanh_relu"}.get(scenario, "deep_mlp")
    return {
        "name": f"test_scenario[{scenario}-{variant}-{mode}-{size}]",
        "extra_info": {
            "workload": workload, "mode": mode, "pass": "step", "size": size, "device": device, "dtype": "float32",
            "peak_tensor_bytes": peak, "saved_bytes": saved, "graph_nodes": nodes,
            "scenario": scenario, "variant": variant, "microbatches": k, "trainable_parameter_bytes": grads,
        },
        "stats": {"median": median, "q1": median * (1 - spread), "q3": median * (1 + spread)},
    }


def check_claims(cases, invalid=()):
    return claims.check_claims(cases, invalid, SCENARIOS)


def check_run(run):
    return claims.check_run(run, SCENARIOS)


def accumulation(peaks, medians, **kwargs):
    return [
        bench("accumulation", f"k={k}", median, peak=peak, k=k, **kwargs)
        for k, peak, median in zip((1, 2, 4, 8), peaks, medians)
    ]


def test_claims_do_not_import_torch():
    # The report reads saved runs only; importing torch there would cost seconds for nothing.
    code = ("import sys, bench_lib.analysis.claims, bench_lib.scenarios; "
            "assert 'torch' not in sys.modules, sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_an_empty_run_measures_nothing_and_mode_matrix_cases_are_ignored():
    matrix_case = {"name": "test_gradbench[x]", "extra_info": {"workload": "mlp", "mode": "grad"}, "stats": {}}
    result = check_claims([matrix_case])
    assert list(result) == list(SCENARIOS)
    for scenario, claim in result.items():
        assert claim.verdict == NOT_MEASURED and claim.checks == ()
        assert claim.sentence == f"No {scenario} case was measured in this run."
        assert claim.claim == SCENARIOS[scenario].claim


def test_accumulation_holds_when_memory_falls_as_1_over_k_and_time_rises():
    # 193.5 KiB of gradients plus 806.5, 406.5, 206.5 and 106.5 KiB: the rest falls as 1/k.
    peaks, medians = [1000 * KiB, 600 * KiB, 400 * KiB, 300 * KiB], [2 * MS, 2.4 * MS, 3 * MS, 4 * MS]
    result = check_claims(accumulation(peaks, medians))
    claim = result["accumulation"]
    assert claim.verdict == HOLDS
    assert claim.sentence == (
        "mlp n=2^16 cpu float32: peak tensor memory 1000.0 KiB at k=1, 600.0 KiB at k=2, 400.0 KiB at k=4, "
        "300.0 KiB at k=8 (gradients 193.5 KiB at every k; the rest at k=8: 0.13 of the full batch's, 1/k = 0.12), "
        "time per effective batch 2.00 ms at k=1 and 4.00 ms at k=8 (2.00x)."
    )
    assert claim.checks == (Check("mlp n=2^16 cpu float32", HOLDS, claim.sentence[len("mlp n=2^16 cpu float32: "):-1]),)


@pytest.mark.parametrize(
    "peaks,medians,reason",
    [
        # memory less the 193.5 KiB of gradients falls, but nowhere near 1/k (606 KiB at k=8 of 906)
        ([1100, 1000, 900, 800], [2, 3, 4, 6], "memory does not fall roughly as 1/k"),
        # weight-gradient temporaries at k=2 outweigh the activations saved
        ([1000, 1100, 400, 300], [2, 3, 4, 6], "memory does not fall with every k"),
        # smaller micro-batches fit the cache: time per effective batch falls
        ([1000, 600, 400, 300], [180, 80, 55, 52], "time does not rise beyond noise"),
        ([1000, 600, 400, 300], [2, 2, 2, 2.05], "time does not rise beyond noise"),  # within the 5 % tolerance
    ],
)
def test_accumulation_does_not_hold_and_says_why(peaks, medians, reason):
    claim = check_claims(accumulation([p * KiB for p in peaks], [m * MS for m in medians]))["accumulation"]
    assert claim.verdict == FAILS
    assert claim.sentence.endswith(f": {reason}.")


def test_accumulation_peaks_below_the_gradients_are_not_judged():
    # Every step makes 193.5 KiB of gradients: a peak of 125 KiB means the probe missed them.
    claim = check_claims(accumulation([p * KiB for p in (1000, 500, 250, 125)], [2 * MS, 3 * MS, 4 * MS, 6 * MS]))
    assert claim["accumulation"].verdict == NOT_MEASURED
    assert "is not above the 193.5 KiB of gradients every step makes" in claim["accumulation"].sentence


def test_accumulation_needs_the_full_batch_and_another_k():
    only_full = check_claims(accumulation([1000], [1 * MS]))["accumulation"]
    assert only_full.verdict == NOT_MEASURED
    assert only_full.sentence == "mlp n=2^16 cpu float32: needs k=1 and another k; measured k=1."


def zero_grad(zero_peak, none_peak, zero_median, none_median, accumulate_median=None):
    cases = [
        bench("zero_grad", "zero_", zero_median, peak=zero_peak, grads=1056768),
        bench("zero_grad", "set_to_none", none_median, peak=none_peak, grads=1056768),
    ]
    if accumulate_median is not None:
        cases.append(bench("zero_grad", "accumulate", accumulate_median, peak=zero_peak, grads=1056768))
    return check_claims(cases)["zero_grad"]


def test_zero_grad_holds_when_set_to_none_is_lighter_and_not_slower():
    claim = zero_grad(5579272, 4522504, 15.6 * MS, 15.9 * MS, 15.5 * MS)  # 2 % slower: within noise
    assert claim.verdict == HOLDS
    assert claim.sentence == (
        "deep_mlp n=2^16 cpu float32: set_to_none peaks at 4.3 MiB against zero_'s 5.3 MiB (gradients: 1.0 MiB), "
        "a training step takes 15.9 ms against 15.6 ms (1.02x), and 15.5 ms with no reset (gradients pile up)."
    )


def test_zero_grad_fails_on_memory_or_on_time():
    assert zero_grad(100, 100, 1 * MS, 1 * MS).sentence.endswith(": set_to_none does not lower the peak.")
    slower = zero_grad(200, 100, 15.6 * MS, 18.9 * MS)
    assert slower.verdict == FAILS and slower.sentence.endswith(": set_to_none is slower beyond noise.")
    assert zero_grad(200, 100, 1 * MS, 1 * MS).verdict == HOLDS


def freezing(nodes, saved, peaks, medians):
    return check_claims([
        bench("freezing", variant, median, peak=peak, saved=s, nodes=n)
        for variant, n, s, peak, median in zip(
            ("all_trainable", "first_half_frozen", "last_layer_only"), nodes, saved, peaks, medians
        )
    ])["freezing"]


def test_freezing_holds_when_everything_shrinks():
    claim = freezing([80, 40, 5], [15 * 256 * KiB, 8 * 256 * KiB, 256 * KiB], [1515012, 986628, 328196],
                     [11.7 * MS, 4.6 * MS, 0.74 * MS])
    assert claim.verdict == HOLDS
    assert claim.sentence == (
        "deep_mlp n=2^16 cpu float32: all_trainable: 80 nodes, 3.8 MiB saved, peak 1.4 MiB, backward 11.7 ms, "
        "first_half_frozen: 40 nodes, 2.0 MiB saved, peak 963.5 KiB, backward 4.60 ms, "
        "last_layer_only: 5 nodes, 256.0 KiB saved, peak 320.5 KiB, backward 740 µs."
    )


def test_freezing_fails_when_a_figure_does_not_shrink():
    same_time = freezing([80, 40, 5], [3, 2, 1], [3, 2, 1], [1 * MS, 1 * MS, 0.5 * MS])
    assert same_time.verdict == FAILS and same_time.sentence.endswith(": backward time does not shrink beyond noise.")
    same_nodes = freezing([80, 80, 5], [3, 2, 1], [3, 3, 1], [3 * MS, 2 * MS, 1 * MS])
    assert same_nodes.sentence.endswith(": the graph does not shrink and peak memory does not shrink.")


def test_freezing_with_one_variant_is_not_measured():
    claim = check_claims([bench("freezing", "last_layer_only", 1 * MS)])["freezing"]
    assert claim.verdict == NOT_MEASURED and "needs all_trainable and another variant" in claim.sentence


REJECTION = (
    "one of the variables needed for gradient computation has been modified by an inplace operation: "
    "[torch.FloatTensor [65536]], which is output 0 of Tanh, is at version 1; expected version 0 instead."
)


def inplace_cases(relu_peak=2 * 256 * KiB, inplace_peak=256 * KiB + 4, relu_median=350e-6, inplace_median=340e-6):
    cases = []
    for mode in ("no_grad", "inference_mode"):
        cases.append(bench("inplace", "relu", relu_median, peak=relu_peak, mode=mode))
        cases.append(bench("inplace", "relu_", inplace_median, peak=inplace_peak, mode=mode))
    return cases


def invalid(variant, size=65536):
    return {"scenario": "inplace", "variant": variant, "workload": "tanh_relu", "mode": "grad", "pass": "step",
            "size": size, "device": "cpu", "dtype": "float32", "error": REJECTION}


def test_inplace_holds_with_the_rejection_recorded():
    claim = check_claims(inplace_cases(), [invalid("relu_"), invalid("detach_then_modify")])["inplace"]
    assert claim.verdict == HOLDS
    assert claim.sentence.startswith(
        "tanh_relu n=2^16 cpu float32: under no_grad relu_ peaks at 256.0 KiB against relu's 512.0 KiB "
        "and takes 340 µs against 350 µs, under inference_mode"
    )
    assert 'under grad relu_ is rejected ("one of the variables needed for gradient computation' in claim.sentence
    assert "..." in claim.sentence  # the message is shortened in the sentence; the run file keeps it whole


def test_inplace_fails_when_autograd_accepts_it_or_memory_does_not_fall():
    accepted = inplace_cases() + [bench("inplace", "relu_", 1 * MS, mode="grad")]
    claim = check_claims(accepted)["inplace"]
    assert claim.verdict == FAILS and claim.sentence.endswith(": autograd accepted relu_ under grad.")
    same_peak = check_claims(inplace_cases(inplace_peak=2 * 256 * KiB))["inplace"]
    assert same_peak.sentence.endswith(
        ": relu_ does not lower the peak under no_grad and relu_ does not lower the peak under inference_mode."
    )


def test_inplace_with_only_the_rejection_is_not_measured():
    claim = check_claims([], [invalid("relu_")])["inplace"]
    assert claim.verdict == NOT_MEASURED
    assert claim.sentence.startswith("tanh_relu n=2^16 cpu float32: under grad relu_ is rejected")


def test_check_run_reads_benchmarks_and_invalid_and_groups_combine():
    small = accumulation([p * KiB for p in (1000, 600, 400, 300)], [2, 3, 4, 5])
    large = accumulation([p * KiB for p in (1000, 900, 850, 800)], [2, 3, 4, 5], size=2**20)
    run = {"benchmarks": small + large + inplace_cases(), "gradbench": {"invalid": [invalid("relu_")]}}
    result = check_run(run)
    accumulation_claim = result["accumulation"]
    assert [c.verdict for c in accumulation_claim.checks] == [HOLDS, FAILS]
    assert accumulation_claim.verdict == FAILS  # one group failing is enough
    assert accumulation_claim.sentence.count("mlp n=2^") == 2
    assert "; mlp n=2^20 cpu float32: " in accumulation_claim.sentence
    assert result["inplace"].verdict == HOLDS
    assert check_run({"benchmarks": []})["inplace"].verdict == NOT_MEASURED  # a run without the gradbench section
    assert result["accumulation"].as_dict()["checks"][1]["verdict"] == FAILS


def test_a_group_timed_on_a_busy_machine_says_so():
    cases = accumulation([p * KiB for p in (1000, 600, 400, 300)], [2, 3, 4, 5])
    cases[2]["extra_info"]["background_cpu"] = 0.52
    [check] = check_claims(cases)["accumulation"].checks
    assert check.verdict == HOLDS and check.background_cpu == 0.52
    assert check.sentence.endswith("(2.50x) (timed while other processes used up to 52% of the CPUs: times suspect)")
    quiet = accumulation([p * KiB for p in (1000, 600, 400, 300)], [2, 3, 4, 5])
    quiet[0]["extra_info"]["background_cpu"] = 0.05  # below contention.CONTENDED_FRACTION
    assert "timed while" not in check_claims(quiet)["accumulation"].sentence


def test_a_check_states_the_rule_for_its_verdict():
    with pytest.raises(ValueError, match="verdict must be one of holds, does not hold, not measured, got 'maybe'"):
        Check("g", "maybe", "s")


def test_time_claims_use_interleaved_rounds_where_the_variants_have_them():
    def interleaved(case, median):
        case["extra_info"].update(interleaved_median=median, interleaved_q1=median * 0.99, interleaved_q3=median * 1.01)
        return case

    # Sequential rounds: set_to_none 21 % slower (machine drift); interleaved: the same speed.
    cases = [
        interleaved(bench("zero_grad", "zero_", 15.6 * MS, peak=200, grads=1056768), 15.0 * MS),
        interleaved(bench("zero_grad", "set_to_none", 18.9 * MS, peak=100, grads=1056768), 15.1 * MS),
    ]
    claim = check_claims(cases)["zero_grad"]
    assert claim.verdict == HOLDS
    assert "a training step takes 15.1 ms against 15.0 ms (1.01x)" in claim.sentence


def test_the_terminal_gives_each_verdict_its_line_and_wraps_the_figures():
    from bench_lib.report.terminal import WIDTH, run_summary

    cases = [bench("checkpointing", variant, median, peak=peak, saved=saved, workload="deep_ffn", size=size,
                   spread=0.5 if variant == "none" else 0.01)
             for size in (2**14, 2**18)
             for variant, median, peak, saved in (("none", 1 * MS, 4000, 1000), ("every_4", 1.37 * MS, 3000, 300),
                                                  ("every_1", 1.5 * MS, 2000, 400))]
    lines = run_summary(cases, [], SCENARIOS)
    start = lines.index("gradbench scenarios: each claim checked from this run's numbers")
    assert lines[start + 1] == "  checkpointing: DOES NOT HOLD"
    assert lines[start + 2].startswith("    deep_ffn n=2^14 cpu float32: none saves")
    assert any(line.startswith("    deep_ffn n=2^18 cpu float32: none saves") for line in lines[start + 3:])
    assert all(len(line) <= WIDTH for line in lines)
