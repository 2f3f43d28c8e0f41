"""What makes a comparison of two runs fail: the gates and their default thresholds, in one place.

Kept free of numpy and pandas: the command line reads the defaults for its help text before it
loads anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gates:
    """What makes ``compare`` exit 1; a threshold of None turns its gate off (still reported)."""

    time: float | None = 0.10       # a case's time (or pipelined time) significantly slower by more than this
    ratio: float | None = 0.10      # an overhead ratio significantly larger by more than this
    peak: float | None = 0.05       # peak tensor memory larger by more than this
    counts: bool = True             # any change of an exact count

    def judged(self) -> Gates:
        """The thresholds the verdicts are judged at: a gate that is off is still reported, at its
        default."""
        default = Gates()
        return Gates(self.time if self.time is not None else default.time,
                     self.ratio if self.ratio is not None else default.ratio,
                     self.peak if self.peak is not None else default.peak, self.counts)
