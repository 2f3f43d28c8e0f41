"""What a scenario's table and figure are made of, for a scenario module to import in one place.

Column, Panel and Plot are defined with the Scenario they belong to (bench_lib.contract.scenario)
and re-exported here; Columns and Panels are the columns and panels several scenarios show (the
bytes saved for backward, the peak, the graph nodes, the time and its ratio to the reference
variant), each written once so that a heading reads the same in every scenario's table and figure.
"""

from __future__ import annotations

from bench_lib.contract.scenario import Column, Panel, Plot, get, ratio, time_columns, time_panel

__all__ = ["Column", "Columns", "Panel", "Panels", "Plot"]


class Columns:
    """The table columns several scenarios show, each written once."""

    saved = Column("saved for backward", "bytes", get("saved_bytes"))
    peak = Column("peak tensors", "bytes", get("peak_tensor_bytes"))
    nodes = Column("graph nodes", "count", get("graph_nodes"))
    time = staticmethod(time_columns)

    @staticmethod
    def of(name: str, kind: str, key: str) -> Column:
        """A column of the record's own ``key``."""
        return Column(name, kind, get(key))

    @staticmethod
    def share(name: str, key: str, reference: str) -> Column:
        """The record's ``key`` as a fraction of the reference variant's, headed "``name`` ÷
        ``reference``" (e.g. "saved ÷ none")."""
        return Column(f"{name} ÷ {reference}", "fraction", ratio(key))


class Panels:
    """The figure panels several scenarios show, each written once."""

    saved = Panel("saved for backward", "bytes", "saved_bytes", "saved bytes")
    peak = Panel("peak tensor memory", "bytes", "peak_tensor_bytes", "peak tensor memory")
    nodes = Panel("autograd graph nodes", "count", "graph_nodes", "nodes reachable from the loss")
    time = staticmethod(time_panel)
