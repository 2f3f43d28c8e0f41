"""The report: saved gradbench runs in, one self-contained HTML page (plus CSV and Markdown) out.

Pipeline, one module per step: runs (run ids to files) -> load (validated tidy tables: the mode
matrix, the scenario cases) -> derive (ratios, spread) -> findings / compare / stats and
bench_lib.analysis.claims (numbers and verdicts) -> tables, scenario_tables, plots and scenario_plots
(display) -> page, markdown, tidy (text) -> output (atomic writes); build ties them together
and bench_lib.commands.cli is the command line. Reads saved JSON only; never imports the benchmark
code, and imports pandas and matplotlib only where they are used.
"""
