"""What a benchmark ran on: CPU model and cores, GPU, memory, library versions, load.

Every result file carries this, so a figure is never separated from its machine. The CPU
load average is recorded at the start and the end: on a shared machine a busy neighbour
shows up there, not in the timings.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` prints it (from ``/proc/cpuinfo``), or the platform's."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if found:
            return found.group(1).strip()
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    found = re.search(r"^MemTotal:\s+(\d+) kB", meminfo.read_text(), re.MULTILINE)
    return round(int(found.group(1)) / 2**20, 1) if found else None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe() -> dict:
    """The machine and software a benchmark runs on (JSON-serialisable)."""
    import torch

    from kick_core.provenance import library_versions

    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else []
    )
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": memory_gib(),
        "gpus": gpus,
        "python": platform.python_version(),
        "versions": library_versions(),
        "load_average": load_average(),
    }


def one_line(info: dict) -> str:
    """``"AMD EPYC, 2 cores, 23.4 GiB, no GPU"`` for table headers."""
    gpu = ", ".join(info["gpus"]) if info["gpus"] else "no GPU"
    return f"{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, {gpu}"
