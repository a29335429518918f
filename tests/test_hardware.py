import pytest

from tunesmith.errors import UserError
from tunesmith.hardware import choose_dtype, cpu_has_native_bf16, detect


@pytest.mark.parametrize("capability", ["AVX2", "AVX512", "DEFAULT", ""])
def test_cpu_without_native_bf16_gets_fp32(capability):
    assert choose_dtype("cpu", "auto", cpu_capability=capability) == "float32"


def test_cpu_with_amx_or_avx512_bf16_gets_bf16():
    assert cpu_has_native_bf16("AVX512_BF16") and cpu_has_native_bf16("AMX")
    assert choose_dtype("cpu", "auto", cpu_capability="AMX") == "bfloat16"


def test_gpu_picks_bf16_where_supported_else_fp16():
    assert choose_dtype("cuda", "auto", gpu_bf16=True) == "bfloat16"
    assert choose_dtype("cuda", "auto", gpu_bf16=False) == "float16"


def test_forcing_bf16_on_a_slow_cpu_is_refused():
    with pytest.raises(UserError, match="hundreds of times slower"):
        choose_dtype("cpu", "bfloat16", cpu_capability="AVX2")
    assert choose_dtype("cpu", "float32", cpu_capability="AVX2") == "float32"


def test_detect_on_this_machine():
    hardware = detect(threads=1)
    assert hardware.device in ("cpu", "cuda", "mps") and hardware.threads == 1
    assert hardware.total_memory_gb > 0 and "device" in hardware.describe()


def test_threads_follow_the_cores_other_processes_leave_free(monkeypatch):
    from tunesmith import hardware
    from tunesmith.hardware import CpuSample, threads_for_free_cores

    monkeypatch.setattr(hardware, "usable_cores", lambda: 4)
    start = CpuSample(busy=100.0, own=10.0, at=0.0)
    # over 10 s: 25 busy core-seconds, 4 of them ours -> others kept 2.1 cores busy -> 2 free
    assert threads_for_free_cores(start, CpuSample(125.0, 14.0, 10.0)) == 2
    assert threads_for_free_cores(start, CpuSample(104.0, 14.0, 10.0)) == 4  # only we were busy
    assert threads_for_free_cores(start, CpuSample(150.0, 10.0, 10.0)) == 1  # never fewer than one
    assert hardware.sample_cpu() is None or hardware.sample_cpu().busy > 0


def test_launched_processes_share_the_cores(monkeypatch):
    import torch

    from tunesmith import hardware

    monkeypatch.setattr(hardware, "usable_cores", lambda: 4)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    threads = torch.get_num_threads()
    try:
        assert hardware.detect().threads == 2
    finally:
        torch.set_num_threads(threads)


def test_allocator_is_tuned_on_glibc():
    import platform

    from tunesmith.hardware import tune_cpu_allocator

    assert tune_cpu_allocator() == (platform.libc_ver()[0] == "glibc")
