"""Keeping TensorFlow's start-up logs off a CPU user's terminal, without hiding errors."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path

#: What TensorFlow prints on a machine without a GPU while it looks for one: absl's notice,
#: written straight to file descriptor 2 during `import tensorflow` whatever
#: TF_CPP_MIN_LOG_LEVEL says, that CUDA drivers are missing.
_NO_GPU_IMPORT_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine"
)


def gpu_visible() -> bool:
    """Whether a CUDA GPU may be visible: an NVIDIA device, not hidden by CUDA_VISIBLE_DEVICES."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia"))


def quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up logs off the terminal; set before TensorFlow is imported.

    TensorFlow's C++ INFO and WARNING logs are hidden (TF_CPP_MIN_LOG_LEVEL=2).
    Without a visible GPU its ERROR logs are hidden too (level 3): there they
    are the failed CUDA probe (`failed call to cuInit`) and tf.data's
    `NodeDef mentions attribute use_unbounded_threadpool`, neither of which
    the user can act on; and the absl notices `import tensorflow` writes
    straight to stderr (`Could not find cuda drivers`) are dropped from that
    import's output, whose other lines still print. Python errors, and so
    every error mpikeras reports, are untouched. A TF_CPP_MIN_LOG_LEVEL set
    by the user wins.
    """
    no_gpu = not gpu_visible()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if no_gpu else "2")
    if no_gpu and "tensorflow" not in sys.modules:
        if not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
            sys.meta_path.insert(0, _QuietTensorFlowImport())


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs `import tensorflow` with absl's no-GPU notices filtered out of file descriptor 2."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: find the real module below
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            execute = spec.loader.exec_module

            def exec_module(module) -> None:
                with _filtered_stderr(_NO_GPU_IMPORT_NOISE):
                    execute(module)

            spec.loader.exec_module = exec_module
        return spec


@contextlib.contextmanager
def _filtered_stderr(noise: re.Pattern):
    """Collect what is written to file descriptor 2 and print it afterwards, less `noise` lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as collected:
        os.dup2(collected.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            collected.seek(0)
            text = collected.read().decode("utf-8", "replace")
            kept = [ln for ln in text.splitlines(keepends=True) if not noise.search(ln)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
