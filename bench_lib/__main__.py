"""``python -m bench_lib``: the same as the ``gradbench`` command (bench_lib.commands.cli)."""

from bench_lib.commands.cli import run

run()
