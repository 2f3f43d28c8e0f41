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
