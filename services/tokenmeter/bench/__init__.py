"""Benchmarks and the worker-process harness they share with the end-to-end tests."""
