# gradbench: `make bench` measures, `make compare` lists saved runs, `make test` checks the code.

# The recipes name .venv, benchmarks and reports relative to this folder: run from another one
# (make -f <path>/Makefile GOAL), make runs the same goals here, as make -C <path> would.
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
ifneq ($(abspath $(CURDIR)),$(ROOT))
elsewhere:
	@echo "gradbench: running make in $(ROOT), the Makefile's folder"
	@$(MAKE) --no-print-directory -C '$(ROOT)' -f Makefile $(MAKECMDGOALS)
$(filter-out elsewhere,$(MAKECMDGOALS)): elsewhere ; @:
.PHONY: elsewhere $(MAKECMDGOALS)
else

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel, installed only when the environment has no torch: GPU users keep their build.
TORCH_SPEC ?= torch==2.13.0

# Case selection (comma-separated lists; empty means the preset's choice).
PRESET ?= default
# Independent processes per run (empty: the preset's; ci runs 5). Comparisons of times need >= 2.
REPEAT ?=
# A git ref (e.g. main) measured too, its replicates alternating with this checkout's: two runs
# saved, for `gradbench compare` (README: "Comparing runs").
AGAINST ?=
# The ref make compare-against measures this checkout against (default: main).
REF ?=
WORKLOADS ?=
# Ops of the catalogue (README: "The operator catalogue"): names, groups (elementwise, reduction, norm,
# linalg, indexing, views, random, attention, inplace), all or none; empty: none (all for PRESET=ops).
OPS ?=
MODES ?=
PASSES ?=
SIZES ?=
DEVICES ?=
DTYPES ?=
THREADS ?=
# eager (the default), inductor (torch.compile) and, on CUDA, reduce-overhead; e.g. eager,inductor.
# Compiling costs seconds per graph (README: "Eager against compiled").
COMPILE ?=
# 1: also count each eager CPU case's instructions per call under valgrind's callgrind, once per run
# (README: "Instruction counts"); about a minute of valgrind start-up, then seconds per case.
COUNTS ?=
# Case ids to hand to torch.profiler after measuring (fnmatch), e.g. 'mlp-forward-grad-16384-cpu-*':
# a Chrome trace (and a CUDA memory snapshot) saved next to the run, in NNNN_<preset>.profiles/.
PROFILE ?=
SEED ?= 0
# Scenarios (bench_lib/scenarios/*.py, e.g. dynamic_graph,checkpointing; all or none),
# accumulation's micro-batch counts and the scenarios' sizes; empty means the preset's choice.
SCENARIOS ?=
MICROBATCHES ?=
SCENARIO_SIZES ?=
# Your own workloads (or any pytest plugin): comma-separated importable modules, loaded with -p.
PLUGINS ?=
# Processes make test runs the tests in (pytest-xdist's -n; 0: one process, as plain pytest).
TEST_WORKERS ?= 2
comma := ,

# glibc reads these at process start. They keep large blocks on the heap and stop it shrinking,
# so every mode gets the steady-state allocator of a training loop instead of a page fault per
# 4 KiB that depends on which case ran before (README: "Why the numbers can be trusted"). Set ALLOC_ENV= to measure glibc's defaults.
ALLOC_ENV ?= MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736

# Values are single-quoted, so one with spaces ("2^10, 2^12") reaches gradbench whole.
BENCH_SELECTION = --gb-seed='$(SEED)' \
	$(if $(WORKLOADS),--gb-workloads='$(WORKLOADS)') $(if $(MODES),--gb-modes='$(MODES)') \
	$(if $(OPS),--gb-ops='$(OPS)') \
	$(if $(PASSES),--gb-passes='$(PASSES)') $(if $(SIZES),--gb-sizes='$(SIZES)') \
	$(if $(DEVICES),--gb-devices='$(DEVICES)') $(if $(DTYPES),--gb-dtypes='$(DTYPES)') \
	$(if $(THREADS),--gb-threads='$(THREADS)') $(if $(SCENARIOS),--gb-scenarios='$(SCENARIOS)') \
	$(if $(COMPILE),--gb-compile='$(COMPILE)') $(if $(PROFILE),--gb-profile='$(PROFILE)') \
	$(if $(MICROBATCHES),--gb-microbatches='$(MICROBATCHES)') \
	$(if $(SCENARIO_SIZES),--gb-scenario-sizes='$(SCENARIO_SIZES)') \
	$(if $(filter-out 0 no,$(COUNTS)),--gb-counts) \
	$(foreach plugin,$(subst $(comma), ,$(PLUGINS)),-p '$(plugin)')

COMPARE_OPTIONS = --group-by=group --sort=name --columns=median,iqr,min,rounds

.PHONY: help install bench compare-against compare report test clean

help:  ## this list: targets, then every variable with its default
	@echo "targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 16
	@echo "variables (make bench VAR=value; empty means the preset's choice):"
	@$(foreach v,PRESET REPEAT AGAINST REF WORKLOADS OPS MODES PASSES SIZES DEVICES DTYPES THREADS COMPILE COUNTS PROFILE SEED SCENARIOS MICROBATCHES \
		SCENARIO_SIZES PLUGINS ALLOC_ENV RUNS BASE TEST_WORKERS VENV PYTHON TORCH_SPEC,printf '  %-15s %s\n' '$(v)' '$($(v))';)
	@echo "details: README.md; the pytest options behind them: .venv/bin/pytest benchmarks --help"

install: $(VENV)/.installed  ## create .venv and install (CPU torch only when it has none)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e .
	touch $@

# GC is off in timed rounds: bench passes --benchmark-disable-gc to every replicate, as
# `python -m bench_lib bench` does without make (README: "Why the numbers can be trusted").
bench: install  ## measure (PRESET=quick|default|full|ci), save the run, build the report
	$(ALLOC_ENV) $(PY) -m bench_lib bench --preset='$(PRESET)' $(if $(REPEAT),--repeat='$(REPEAT)') \
		$(if $(AGAINST),--against='$(AGAINST)') -- $(BENCH_SELECTION)
	$(PY) -m bench_lib report

# RUNS: run ids (0001), paths or globs (default: the latest run); BASE: a run to compare against.
# The regression check for a shared or noisy machine: REF and this checkout measured case by case in
# time-matched pairs of blocks (README: "Comparing runs"), then compare's gate. make turns compare's
# exit code into its own 2 on any failure: run the command itself for 1 (regression) against 3 (not judged).
compare-against: install  ## time-matched A/B of REF (default main) against this checkout, then the gate
	$(ALLOC_ENV) $(PY) -m bench_lib bench --preset='$(if $(filter default,$(PRESET)),ci,$(PRESET))' \
		$(if $(REPEAT),--repeat='$(REPEAT)') --against='$(or $(REF),main)' --compare -- $(BENCH_SELECTION)

report: install  ## rebuild reports/ from the latest run (RUNS=, BASE= to compare)
	$(PY) -m bench_lib report $(RUNS) $(if $(BASE),--base $(BASE))

# RUNS are resolved by gradbench first (an id that names no run fails, naming the folder it looked in;
# latest and latest~N work too), then handed to pytest-benchmark as paths.
compare: install  ## pytest-benchmark compare over saved runs (RUNS=; default: every run)
	@paths="$$($(PY) -m bench_lib runs $(RUNS))" && printf '%s\n' "$$paths" | tr '\n' '\0' \
		| xargs -0 $(VENV)/bin/pytest-benchmark compare $(COMPARE_OPTIONS)

# pytest-xdist workers, each taking a contiguous share of the tests and then stealing from the others
# (worksteal): the tests that read one real run stay together (tests/session_cache.py makes it once anyway).
test: install  ## the project's tests, with the reason of every skip
	$(PY) -m pytest tests -rs -n $(TEST_WORKERS) --dist worksteal

clean:  ## remove the generated report
	rm -f reports/index.html reports/summary.csv reports/scenarios.csv reports/summary.md

endif
