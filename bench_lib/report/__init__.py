"""The report: saved gradbench runs in, one self-contained HTML page (plus CSV and Markdown) out.

Pipeline, one module per step: runs (run ids to files) -> load (validated tidy table) ->
derive (ratios, spread) -> findings / compare / stats (numbers and verdicts) -> tables and
plots (display) -> page, markdown, tidy (text) -> output (atomic writes); build ties them
together and bench_lib.cli is the command line. Reads saved JSON only; never imports the
benchmark code, and imports pandas and matplotlib only where they are used.
"""
