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
