"""benchmarks/ only declares the cases (test_gradbench.py, test_scenarios.py); they run under
gradbench's pytest plugin, bench_lib.measure.plugin: its options, the case matrix, skips, the
measurement and what the run file holds."""

pytest_plugins = ["bench_lib.measure.plugin"]
