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
