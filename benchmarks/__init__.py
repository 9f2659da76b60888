"""Speed and memory benchmarks of mpikeras (`python -m benchmarks`)."""
