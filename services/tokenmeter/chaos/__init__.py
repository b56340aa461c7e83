"""The chaos suite: faults injected into a running pipeline, and proof that totals stay exact."""
