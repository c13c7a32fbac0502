"""py-spy sampling of the services while a load step runs (``benchmark.py --profile``).

Writes one collapsed-stack file per service (``<name>.folded``, loadable in speedscope or flamegraph.pl)
and a short text summary of where the sampled time went. The default ("wall") includes idle threads: a
capture that waits on a disk sync or a lock is what a throughput shortfall often looks like, and py-spy
hides waiting threads otherwise; "cpu" leaves them out, to see what burns the processor.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


class Profiler:
    def __init__(self, pids: dict[str, int], out_dir: Path, seconds: float, *, idle: bool = True) -> None:
        self.pids, self.out_dir, self.seconds, self.idle = pids, out_dir, seconds, idle
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> Profiler:
        # The venv's bin folder is not on PATH when the benchmark is run as .venv/bin/python.
        py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if py_spy is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy==0.4.3)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self.processes[name] = subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--subprocesses", *(["--idle"] if self.idle else []),
                 "--nonblocking", "--format", "raw",
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


def _frame_name(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (file.py)": lines of one function add up.
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})"


def _shares(stacks: list[tuple[list[str], int]], top: int) -> list[str]:
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = sum(n for _, n in stacks) or 1
    for frames, n in stacks:
        for frame in set(frames):
            inclusive[frame] += n
        leaf[frames[-1]] += n
    lines = ["inclusive:"] + [f"{100 * n / total:6.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return lines + ["", "self:"] + [f"{100 * n / total:6.1f}%  {frame}" for frame, n in leaf.most_common(top)]


def summarise(folded: Path, top: int = 25) -> str:
    """Where the samples went: over the whole process, then over request handlers only (stacks through a
    route module), which is where a request's time, waits included, is spent."""
    stacks, handlers = [], []
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        raw = stack.split(";")
        sample = ([_frame_name(frame) for frame in raw], int(count))
        stacks.append(sample)
        if any("/routes/" in frame for frame in raw):
            handlers.append(sample)
    lines = [f"{sum(n for _, n in stacks)} samples, {sum(n for _, n in handlers)} in request handlers", "",
             "== whole process", *_shares(stacks, top), "", "== request handlers only", *_shares(handlers, top)]
    return "\n".join(lines) + "\n"
