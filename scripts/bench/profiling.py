"""py-spy sampling of the services while a load step runs (``benchmark.py --profile``).

Writes one collapsed-stack file per service (``<name>.folded``, loadable in speedscope or flamegraph.pl)
and a short text summary of where the sampled time went, idle threads included: a capture that waits on
a disk sync or a lock is exactly what a throughput shortfall looks like, and py-spy hides it otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


class Profiler:
    def __init__(self, pids: dict[str, int], out_dir: Path, seconds: float) -> None:
        self.pids, self.out_dir, self.seconds = pids, out_dir, seconds
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> Profiler:
        # The venv's bin folder is not on PATH when the benchmark is run as .venv/bin/python.
        py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if py_spy is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy==0.4.3)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self.processes[name] = subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--subprocesses", "--idle", "--nonblocking", "--format", "raw",
                 "--rate", "200", "--duration", str(max(1, int(self.seconds))),
                 "--output", str(self.out_dir / f"{name}.folded")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes.values():
            try:
                process.wait(self.seconds + 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for name in self.processes:
            folded = self.out_dir / f"{name}.folded"
            if folded.exists():
                (self.out_dir / f"{name}.txt").write_text(summarise(folded))


def summarise(folded: Path, top: int = 25) -> str:
    """Inclusive share of samples per function (file:line stripped), busiest first."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  for frame in stack.split(";")]
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        leaf[frames[-1]] += n
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in leaf.most_common(top)]
    return "\n".join(lines) + "\n"
