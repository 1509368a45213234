"""Measurements of golden-path against the raw SDK and LiteLLM; never run by the test suite.

Run ``python -m benchmarks --help``; the method and the latest results are in docs/benchmarks.md.
"""
