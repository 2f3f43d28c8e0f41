"""``python -m bench_lib``: the same as the ``gradbench`` command (bench_lib.cli)."""

from bench_lib.cli import run

run()
