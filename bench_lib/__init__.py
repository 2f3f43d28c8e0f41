"""gradbench: what PyTorch gradient tracking costs, measured.

Kept import-free on purpose: ``import bench_lib`` runs inside the benchmark process and in
the report, and neither should pay for torch, pandas or matplotlib until it uses them.
"""

__version__ = "0.1.0"
