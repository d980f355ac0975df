"""Collects the figures printed by the benchmark scripts into bench/results.md and a chart of
the ratios (bench/ratios.png). Each script prints lines such as
`nats object put: nvisy 482 MB/s, nats-py 275 MB/s, ratio 1.76x (target >= 0.7x)`; every line
of a log is kept in the table, and lines with a ratio and a target are charted."""
import datetime
import platform
import re
import subprocess
import sys
from pathlib import Path

RATIO = re.compile(r"ratio\s+([0-9.]+)x|([0-9.]+)x\s*\(target")
TARGET = re.compile(r"target\s*>=\s*([0-9.]+)x")


def figures(log: Path):
    for line in log.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith(("==", "[", "Building", "Compiling", "warning:", "install-deps:", "Build ")):
            continue
        m = RATIO.search(line)
        t = TARGET.search(line)
        ratio = float(m.group(1) or m.group(2)) if m else None
        target = float(t.group(1)) if t else None
        if ratio is None and not any(k in line for k in ("/s", " ms", " MiB", " s ", "µs", "rows", "RSS", "start")):
            continue
        yield line, ratio, target


def main(paths):
    rows = []
    for p in map(Path, paths):
        if p.exists():
            rows += [(p.stem, *f) for f in figures(p)]
    out = Path("bench")
    out.mkdir(exist_ok=True)
    md = ["# nvisy benchmarks", "",
          f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} on {platform.node()} "
          f"({platform.machine()}, {_cpus()} CPUs). Each figure is measured beside its baseline in the same run.", "",
          "| benchmark | figure | ratio | target | met |", "|---|---|---|---|---|"]
    for bench, line, ratio, target in rows:
        met = "" if ratio is None or target is None else ("yes" if ratio >= target else "**no**")
        md.append(f"| {bench} | {line.replace('|', '/')} | {'' if ratio is None else f'{ratio:.2f}x'} | "
                  f"{'' if target is None else f'>= {target}x'} | {met} |")
    (out / "results.md").write_text("\n".join(md) + "\n")
    print(f"bench: wrote {out / 'results.md'} ({len(rows)} figures)")
    charted = [(b, l, r, t) for b, l, r, t in rows if r is not None and t is not None]
    if charted:
        _chart(charted, out / "ratios.png")


def _cpus():
    try:
        return len(open("/proc/cpuinfo").read().split("processor")) - 1
    except OSError:
        return "?"


def _chart(rows, path):
    try:
        import matplotlib
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=False)
        try:
            import matplotlib
        except ImportError:
            print("bench: matplotlib is not installable here; no chart")
            return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = [f"{b}: {l.split(':')[0][:40]}" for b, l, _, _ in rows]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh(list(y), [r for _, _, r, _ in rows], color=["tab:green" if r >= t else "tab:red" for _, _, r, t in rows])
    ax.scatter([t for _, _, _, t in rows], list(y), marker="|", s=300, color="black", label="target")
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ratio to the baseline measured in the same run")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"bench: wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
