"""One colour and marker per mode, shared by the plots and the page's tables."""

from __future__ import annotations

# Colour-blind-safe (Okabe-Ito) colours; markers differ too, so print in grey still reads.
MODE_COLORS = {
    "grad": "#D55E00",
    "no_grad": "#0072B2",
    "inference_mode": "#009E73",
    "detach": "#CC79A7",
}
MODE_MARKERS = {"grad": "o", "no_grad": "s", "inference_mode": "^", "detach": "D"}

# A scenario's variants (and accumulation's groups), in their reading order: Okabe-Ito colours (two of
# Paul Tol's after them) that no mode uses, so a variant is never mistaken for a mode; hatches tell
# them apart in grey.
VARIANT_COLORS = ("#E69F00", "#56B4E9", "#4D4D4D", "#F0E442", "#882255", "#44AA99")
VARIANT_HATCHES = ("", "//", "..", "xx", "\\\\", "--")
