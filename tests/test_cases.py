import pytest

from bench_lib.contract.cases import PRESETS, CaseSpec, SelectionError, parse_count, parse_selection, parse_size

KNOWN = ("elementwise", "mlp", "attention")


def select(**options):
    return parse_selection(known_workloads=KNOWN, **options)


def test_default_preset_covers_five_sizes_from_2_10_to_2_24():
    sizes = PRESETS["default"].sizes
    assert len(sizes) >= 5 and min(sizes) == 2**10 and max(sizes) == 2**24
    assert len(PRESETS["quick"].sizes) == 3


def test_defaults_are_every_mode_pass_workload_and_float32():
    selection = select()
    assert selection.modes == ("grad", "no_grad", "inference_mode", "detach")
    assert selection.passes == ("forward", "backward", "step")
    assert selection.workloads == KNOWN
    assert selection.devices == ("cpu", "cuda")
    assert selection.dtypes == ("float32",)
    assert len(selection.cases()) == 3 * 3 * 5 * 2 * 4


def test_lists_are_trimmed_ordered_and_deduplicated():
    selection = select(modes=" no_grad, grad ,no_grad", sizes="2^10,1024,4096")
    assert selection.modes == ("no_grad", "grad")
    assert selection.sizes == (1024, 4096)


@pytest.mark.parametrize("text,value", [("1", 1), ("1024", 1024), ("2^20", 2**20), ("2**3", 8)])
def test_sizes_are_plain_or_powers_of_two(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["0", "-4", "1.5", "abc", "2^", "1e6", "²", "2^4000", "2^20000", "2^51",
                                  "9" * 5000, "١٠٢٤"])
def test_bad_sizes_name_the_value(text):
    with pytest.raises(SelectionError, match=f"size '{__import__('re').escape(text)}' is not an integer from 1 to 2"):
        parse_size(text)


def test_the_largest_size_is_accepted():
    assert parse_size("2^50") == 2**50


@pytest.mark.parametrize("text", ["²", "-1", "99999999999999999999999", "1.0", ""])
def test_bad_counts_name_the_value_and_the_range(text):
    with pytest.raises(SelectionError, match=f"--gb-seed '{__import__('re').escape(text)}' is not a whole number "
                                             "from 0 to 9223372036854775807"):
        parse_count("--gb-seed", text, low=0, high=2**63 - 1)


@pytest.mark.parametrize(
    "options,message",
    [
        ({"modes": "grad,fast"}, "unknown mode 'fast'; allowed: grad, no_grad, inference_mode, detach"),
        ({"passes": "sideways"}, "unknown pass 'sideways'; allowed: forward, backward, step"),
        ({"workloads": "resnet"}, "unknown workload 'resnet'; allowed: elementwise, mlp, attention"),
        ({"devices": "tpu"}, "unknown device 'tpu'; allowed: cpu, cuda"),
        ({"dtypes": "float64"}, "unknown dtype 'float64'; allowed: float32, float16, bfloat16"),
        ({"preset": "huge"}, "unknown preset 'huge'; allowed: quick, default, full"),
        ({"modes": " , "}, "empty mode selection"),
        ({"sizes": ""}, "empty size selection"),
    ],
)
def test_bad_selections_give_one_line_naming_value_and_allowed(options, message):
    with pytest.raises(SelectionError) as error:
        select(**options)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_case_ids_and_groups_put_modes_side_by_side():
    spec = CaseSpec("mlp", "grad", "forward", 1024, "cpu", "float32")
    assert spec.case_id == "mlp-forward-grad-1024-cpu-float32"
    assert spec.group == CaseSpec("mlp", "no_grad", "forward", 1024, "cpu", "float32").group
    assert spec.as_dict() == {
        "workload": "mlp", "mode": "grad", "pass": "forward", "size": 1024, "device": "cpu", "dtype": "float32"
    }
