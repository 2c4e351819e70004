"""Timers, peak memory and disk reads for the benchmarks.

* :func:`synchronizer` – a GPU synchronisation for timers (a no-op without a GPU).
* :func:`measured` – wall time, process CPU time (all threads: robust to a busy neighbour on a
  shared machine, unlike wall time), peak GPU memory (``torch.cuda.max_memory_allocated``,
  reset on entry) and peak resident memory of the process (``VmHWM``, reset on entry through
  ``/proc/self/clear_refs``; the model already in memory counts).
* :func:`drop_page_cache` – evict files from the OS page cache (``posix_fadvise``
  ``DONTNEED``, after ``fdatasync`` so dirty pages go too) for a cold read without root.
* :func:`read_bandwidth` – cold sequential read speed of files: what the disk gives.
* :func:`touch_weights` – read every memory page of a model's weights. On the CPU,
  ``from_pretrained`` leaves safetensors weights memory-mapped and reads them from disk only
  when first used, so a load time alone undercounts a cold load there.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

READ_BLOCK = 16 << 20


@dataclass
class Measurement:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_gpu_gib: float | None = None
    peak_rss_gib: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _rss_peak_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _rss_peak_gib() -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 2**20 if found else None


def _cuda():
    import torch

    return torch.cuda if torch.cuda.is_available() else None


def synchronizer():
    """``torch.cuda.synchronize`` when there is a GPU, else a no-op: for timers that must
    charge queued GPU work to the code that queued it."""
    cuda = _cuda()
    return cuda.synchronize if cuda is not None else (lambda: None)


@contextmanager
def measured():
    """``with measured() as m: ...`` fills ``m`` (a :class:`Measurement`) on exit."""
    result = Measurement()
    cuda = _cuda()
    if cuda is not None:
        cuda.synchronize()
        cuda.reset_peak_memory_stats()
    rss_reset = _rss_peak_reset()
    wall, cpu = time.perf_counter(), time.process_time()
    yield result
    if cuda is not None:
        cuda.synchronize()
        result.peak_gpu_gib = cuda.max_memory_allocated() / 2**30
    result.wall_s = time.perf_counter() - wall
    result.cpu_s = time.process_time() - cpu
    result.peak_rss_gib = _rss_peak_gib() if rss_reset else None


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The ``*.safetensors`` files of a checkpoint folder."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors file in {str(folder)!r}")
    return files


def drop_page_cache(files) -> None:
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def read_bandwidth(files) -> tuple[int, float]:
    """``(bytes, seconds)`` of a cold sequential read of ``files`` in 16 MiB blocks."""
    files = list(files)
    drop_page_cache(files)
    buffer = bytearray(READ_BLOCK)
    view = memoryview(buffer)
    total, start = 0, time.perf_counter()
    for path in files:
        with open(path, "rb", buffering=0) as handle:
            while n := handle.readinto(view):
                total += n
    return total, time.perf_counter() - start


def touch_weights(model) -> float:
    """Seconds to read one element of every 4 KiB page of every parameter and buffer (the
    pages of memory-mapped weights come from disk here; weights on a GPU are already read)."""
    import itertools

    import torch

    start = time.perf_counter()
    with torch.no_grad():
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            flat = tensor.detach().reshape(-1)
            if flat.numel():
                flat[:: max(1, 4096 // flat.element_size())].sum()
    cuda = _cuda()
    if cuda is not None:
        cuda.synchronize()
    return time.perf_counter() - start
