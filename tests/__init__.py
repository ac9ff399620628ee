"""Bastion test suite."""
