"""Helpers of the tests (and of the demo and the benchmarks), not tests:
``harness`` runs a real glance-api, ``signing`` makes real keys,
certificates and signatures, ``e2e`` holds the end-to-end steps and
checks."""
