"""Builds the optional C accelerator `bastion._native` (the package works without it: numpy fallback)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("bastion._native", ["src/bastion/_native.c", "src/bastion/_native_canon.c",
                                                "src/bastion/_native_possible.c", "src/bastion/_native_leet.c",
                                                "src/bastion/_native_distinct.c", "src/bastion/_native_ascii.c",
                                                "src/bastion/_native_scored.c", "src/bastion/_native_secrets.c",
                                                "src/bastion/_native_pii.c", "src/bastion/_native_sse.c",
                                                "src/bastion/_native_audit.c", "src/bastion/_native_bucket.c",
                                                "src/bastion/_native_digest.c", "src/bastion/_native_http.c",
                                                "src/bastion/_native_make.c", "src/bastion/_native_measure.c",
                                                "src/bastion/_native_openai.c",
                                                "src/bastion/_native_circuit.c", "src/bastion/_native_chunks.c",
                                                "src/bastion/_native_opening.c"],
                             depends=["src/bastion/_native.h"], optional=True, libraries=["m"],
                             # no fused multiply-adds: the float64 sums must equal numpy's bit for bit
                             extra_compile_args=["-O2", "-ffp-contract=off", "-Wall", "-Wextra",
                                                 "-Wno-unused-parameter"])])
