"""What a benchmark's written table says about where and when it ran (shared by the --write options)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """One line naming this machine: CPU model, cores, memory, OS, Python."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model)
    except OSError:
        pass
    mem = ""
    try:
        mem = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return f"{model}, {os.cpu_count()} cpus{mem}; {platform.system()} {platform.release()}; Python {platform.python_version()}"


def commit() -> str:
    """The checked-out commit of this repository (the code measured; saying so when files differ from it), or
    'unknown'."""
    try:
        git = ["git", "-C", str(ROOT)]
        out = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
        return f"`{out}`" + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def utc(t: float | None = None) -> str:
    """``YYYY-MM-DD HH:MM UTC`` of ``t`` (default now)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def shown_command(script: str, argv: list[str], hide: dict[str, str]) -> str:
    """The command line as the docs show it: the values of the options in ``hide`` replaced by a placeholder
    (no machine-specific folder or address in the docs)."""
    out = []
    for k, v in enumerate(argv):
        if k and argv[k - 1] in hide:
            v = hide[argv[k - 1]]
        else:
            opt = v.split("=", 1)[0]
            if "=" in v and opt in hide:
                v = f"{opt}={hide[opt]}"
        out.append(v)
    return f"PYTHONPATH=. python benchmarks/{script} " + " ".join(out)


def loadavg(values=None) -> str:
    """The 1, 5 and 15 minute load averages, 2 decimals each ("1.27, 0.87, 0.46"): ``values`` as given (a
    tuple from ``os.getloadavg()`` or a JSON list), or the current ones."""
    return ", ".join(f"{float(v):.2f}" for v in (os.getloadavg() if values is None else values))
