"""Draw docs/img/performance.png, the performance page's lead picture, from the medians the
benchmarks measured (the tables of docs/performance.md and docs/mirror.md; update both together).

    .venv/bin/python scripts/performance_chart.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "performance.png"

# (panel title, [(label, seconds), ...]): what an analyst would otherwise do first, then us.
PANELS = [
    (
        "A whole set, 108,113 rows\n20 ms per request (bench_fetch)",
        [("plain loop", 10.06), ("elfsquad-magic", 1.97)],
    ),
    (
        "Far from the service, 34,291 rows\n150 ms per request (bench_pace)",
        [("plain loop", 23.89), ("elfsquad-magic", 1.88)],
    ),
    (
        "Again, nothing changed, 108,441 rows\n20 calls/s allowed (bench_sync)",
        [("full fetch", 10.33), ("resync", 0.72)],
    ),
]


def main() -> None:
    """Three panels of horizontal bars, seconds, the faster bar in the accent colour."""
    figure, axes = plt.subplots(1, len(PANELS), figsize=(10, 2.4), dpi=110)
    for ax, (title, bars) in zip(axes, PANELS, strict=True):
        labels = [label for label, _ in bars]
        seconds = [value for _, value in bars]
        ax.barh(labels, seconds, color=["#b0b0b0", "#d9480f"])
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("seconds (median)", fontsize=8)
        ax.tick_params(labelsize=8)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
        for y, value in enumerate(seconds):
            ax.text(value, y, f" {value:.2f} s", va="center", fontsize=8)
        ax.set_xlim(0, max(seconds) * 1.35)
        speedup = seconds[0] / seconds[1]
        ax.text(0.98, 0.05, f"{speedup:.0f}x", transform=ax.transAxes, ha="right", fontsize=11)
    figure.tight_layout()
    figure.savefig(OUT)
    print(OUT)


if __name__ == "__main__":
    main()
