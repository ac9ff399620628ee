"""Builds the optional C accelerator `bastion._native` (the package works without it: numpy fallback)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("bastion._native", ["src/bastion/_native.c"], optional=True,
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])])
