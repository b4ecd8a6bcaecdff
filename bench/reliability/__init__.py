"""Reliability benchmarks: the fault suite's scenarios at soak size."""
