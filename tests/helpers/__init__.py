"""Helpers for the tests and the benchmarks, kept out of the installed packages: toy datasets drawn in 2D
(`toy`) and a small procedural model library (`library`). Import them from a checkout (`tests.helpers...`)."""
