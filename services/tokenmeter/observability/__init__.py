"""Prometheus metrics: the catalog lives in metrics.py."""
