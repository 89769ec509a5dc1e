"""Charts two indicators per month and region from a `samplan indicators` CSV export.

    python chart.py indicators.csv assessments.png
"""

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(source: str, target: str) -> None:
    # (indicator, region) -> [(period, value)]; suppressed and empty cells have no value.
    series = defaultdict(list)
    with open(source, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["value"] and row["group_id"].startswith("Region"):
                series[(row["indicator_id"], row["group_name"])].append((row["period"], float(row["value"])))

    fig, (share, days) = plt.subplots(1, 2, figsize=(11, 4))
    for (indicator, region), points in sorted(series.items()):
        periods = [p for p, _ in points]
        if indicator == "clock-met-assessment":
            share.plot(periods, [100 * v for _, v in points], marker="o", label=region)
        else:
            days.plot(periods, [v for _, v in points], marker="o", label=region)
    share.set_title("Assessed within the deadline (udredningsret, § 82 b)")
    share.set_ylabel("% of assessment clocks decided")
    share.set_ylim(0, 100)
    days.set_title("Days from referral to assessment, median")
    days.set_ylabel("days")
    days.set_ylim(bottom=0)
    for ax in (share, days):
        ax.tick_params(axis="x", rotation=60)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Synthetic population, per month and region (samplan indicators --by region --period month)")
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
