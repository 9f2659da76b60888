"""What the machine offers now (used to refuse sizes that cannot fit before trying)."""

from __future__ import annotations

import os


def available_memory_bytes() -> int:
    """Memory available now: Linux `MemAvailable`, else the physical memory."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - no sysconf
        return 2**63


#: CPU flags (Linux `/proc/cpuinfo`) of units that compute bfloat16 natively.
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
#: CPU flags worth naming in a benchmark or a run record.
NAMED_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpuinfo() -> tuple[str, frozenset[str]]:
    """The CPU's model name and flags from Linux `/proc/cpuinfo` (one read of the file)."""
    name, flags = "unknown CPU", frozenset()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name == "unknown CPU":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = frozenset(value.split())
                    break
    except OSError:
        pass
    return name, flags


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this machine's CPU (empty where `/proc/cpuinfo` is absent)."""
    return _cpuinfo()[1]


def cpu_summary() -> str:
    """The CPU's model name and its named instruction sets, for example "AMD EPYC (avx2, fma)"."""
    name, flags = _cpuinfo()
    named = [flag for flag in NAMED_CPU_FLAGS if flag in flags]
    return f"{name} ({', '.join(named) or 'none of ' + ', '.join(NAMED_CPU_FLAGS)})"


def accelerator_bfloat16(backend: str) -> tuple[bool, str] | None:
    """Whether the backend's accelerator computes bfloat16 natively, or `None` without one.

    NVIDIA GPUs from compute capability 8.0 (Ampere) on and TPUs do; older
    GPUs emulate it.

    Returns:
        (native, a description of the device), or `None` on a CPU-only machine.
    """
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "tpu":
            return True, f"TPU {device.device_kind}"
        if device.platform != "gpu":
            return None
        capability = getattr(device, "compute_capability", "0")
        major = int(str(capability).split(".")[0] or 0)
        return major >= 8, f"GPU {device.device_kind} (compute capability {capability})"
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return None
        major, minor = torch.cuda.get_device_capability()
        name = torch.cuda.get_device_name()
        return major >= 8, f"GPU {name} (compute capability {major}.{minor})"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        details = tf.config.experimental.get_device_details(gpus[0])
        major, minor = details.get("compute_capability", (0, 0))
        name = details.get("device_name", "GPU")
        return major >= 8, f"GPU {name} (compute capability {major}.{minor})"
    return None


def automatic_precision(backend: str) -> tuple[str, str]:
    """The dtype policy `mixed_precision = "auto"` picks on this machine, and why.

    "mixed_bfloat16" where the training device computes bfloat16 natively
    (an Ampere-or-newer GPU, a TPU, or, without an accelerator, a CPU with
    AMX or AVX512-BF16), "float32" elsewhere: emulated bfloat16 is slower
    than float32.

    Example:

    >>> policy, reason = automatic_precision("torch")   # doctest: +SKIP
    >>> policy, reason                                   # doctest: +SKIP
    ('float32', 'CPU AMD EPYC (avx2, fma) has neither amx_bf16 nor avx512_bf16')

    Returns:
        (policy, reason).
    """
    accelerator = accelerator_bfloat16(backend)
    if accelerator is not None:
        native, device = accelerator
        if native:
            return "mixed_bfloat16", f"{device} computes bfloat16 natively"
        return "float32", f"{device} predates native bfloat16 (compute capability < 8.0)"
    native = [flag for flag in BFLOAT16_CPU_FLAGS if flag in cpu_flags()]
    if native:
        return "mixed_bfloat16", f"CPU {cpu_summary()} computes bfloat16 natively"
    return "float32", f"CPU {cpu_summary()} has neither amx_bf16 nor avx512_bf16"
