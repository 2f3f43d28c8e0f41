"""checkpointing: the bytes saved for backward with a boundary every 4 blocks or around every
block (exact counts from real torch runs), and the same gradients as without."""

import torch
from scenario_helpers import F32, WIDTH, measured, spec

from bench_lib.measure import runner
from bench_lib.scenarios.checkpointing import BLOCKS, EXPANSION, VARIANTS

SIZE = 2**12
ACTIVATION = SIZE // WIDTH * WIDTH * F32  # one batch x 128 tensor


def test_saved_bytes_are_the_segments_inputs_only():
    saved = {v: measured(spec("checkpointing", v, SIZE))[1]["saved_bytes"] for v in VARIANTS}
    # none: per block its input, the 4x wide Linear output (GELU's input) and GELU's output; the
    # first block's input is the data, which existed.
    assert saved["none"] == (BLOCKS * (1 + 2 * EXPANSION) - 1) * ACTIVATION
    # A boundary keeps only the segment's input: 8 // k segments, the first one's input being the data.
    assert saved["every_4"] == (BLOCKS // 4 - 1) * ACTIVATION
    assert saved["every_1"] == (BLOCKS - 1) * ACTIVATION
    assert saved["every_1"] <= saved["none"] / 2


def test_checkpointing_gives_the_same_gradients():
    gradients = []
    for variant in VARIANTS:
        case = runner.build(spec("checkpointing", variant, SIZE), seed=0)
        case.setup()
        case.target()
        gradients.append([p.grad.clone() for p in case.model.parameters()])
        case.teardown()
    for other in gradients[1:]:
        for a, b in zip(gradients[0], other, strict=True):
            torch.testing.assert_close(b, a)
