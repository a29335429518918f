"""Device, dtype, threads and memory: the only place that decides bf16/fp16/fp32."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tunesmith.errors import UserError


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda", "mps" or "cpu"
    dtype: str  # "float32", "bfloat16" or "float16": the dtype weights and autocast use
    threads: int
    total_memory_gb: float
    available_memory_gb: float
    detail: str  # e.g. the GPU name or the CPU's vector capability

    def describe(self) -> str:
        return (
            f"device {self.device} ({self.detail}), dtype {self.dtype}, {self.threads} threads, "
            f"{self.available_memory_gb:.1f} of {self.total_memory_gb:.1f} GiB memory free"
        )


def usable_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_has_native_bf16(capability: str) -> bool:
    """True only for CPUs whose bf16 matmul is fast (AVX512-BF16 or AMX); on others it is ~300x slower than fp32."""
    return capability.upper().startswith(("AVX512_BF16", "AMX"))


def choose_dtype(device: str, requested: str, *, gpu_bf16: bool = False, cpu_capability: str = "") -> str:
    """Resolve `model.dtype`: "auto" picks bf16 only where the hardware runs it natively."""
    if requested != "auto":
        if device == "cpu" and requested in ("bfloat16", "float16") and not cpu_has_native_bf16(cpu_capability):
            raise UserError(
                f"model.dtype={requested} on a CPU without native support ({cpu_capability or 'unknown'}) "
                "runs hundreds of times slower than float32",
                hint="use model.dtype=auto (float32 here)",
            )
        return requested
    if device == "cuda":
        return "bfloat16" if gpu_bf16 else "float16"
    if device == "cpu" and cpu_has_native_bf16(cpu_capability):
        return "bfloat16"
    return "float32"


def memory_gb() -> tuple[float, float]:
    """(total, available) system memory in GiB."""
    import psutil

    vm = psutil.virtual_memory()
    return vm.total / 2**30, vm.available / 2**30


def detect(requested_dtype: str = "auto", requested_device: str = "auto", threads: int | None = None) -> Hardware:
    """Inspect the machine and pick device, dtype and thread count."""
    import torch

    device = requested_device
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    capability = torch.backends.cpu.get_cpu_capability()
    if device == "cuda":
        gpu_bf16 = torch.cuda.is_bf16_supported()
        detail = torch.cuda.get_device_name(0)
        free, total = torch.cuda.mem_get_info()
        total_gb, avail_gb = total / 2**30, free / 2**30
    else:
        gpu_bf16 = False
        detail = f"CPU {capability}"
        total_gb, avail_gb = memory_gb()
    dtype = choose_dtype(device, requested_dtype, gpu_bf16=gpu_bf16, cpu_capability=capability)
    n_threads = threads or usable_cores()
    torch.set_num_threads(n_threads)
    return Hardware(device, dtype, n_threads, total_gb, avail_gb, detail)
