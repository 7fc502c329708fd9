"""Plots a `mirrorlake-loadtest bench` report.

Usage: plot_bench.py report.json report.png

Left: delivered vs offered packets/s per system (the diagonal is no loss).
Right: CPU seconds per million packets vs offered rate.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    report = json.load(open(sys.argv[1]))
    steps = report["steps"]
    systems = []
    for s in steps:
        if s["system"] not in systems:
            systems.append(s["system"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    top = max((s["offered_pps"] for s in steps), default=1)
    left.plot([0, top], [0, top], color="lightgray", linestyle="--", label="no loss")
    for name in systems:
        mine = [s for s in steps if s["system"] == name]
        x = [s["offered_pps"] for s in mine]
        delivered = [s["delivered"] / s["sent"] * s["achieved_pps"] if s["sent"] else 0 for s in mine]
        left.plot(x, delivered, marker="o", label=name)
        cpu = [s["cpu_s_per_mpacket"] for s in mine]
        right.plot(x, cpu, marker="o", label=name)
    left.set_xlabel("offered packets/s")
    left.set_ylabel("delivered packets/s")
    left.set_title("offered vs delivered")
    left.legend()
    right.set_xlabel("offered packets/s")
    right.set_ylabel("CPU seconds per million packets")
    right.set_title("CPU per Mpacket (user+sys)")
    right.legend()
    fig.suptitle(f"mirrorlake-loadtest bench, {report['date']}, {report['machine'].get('cpus')} CPUs")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
