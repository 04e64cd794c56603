"""The optional C accounting engine; everything else is declared in pyproject.toml.

Without a C compiler (or Python headers) the build goes on without it and capture runs
on the pure-Python engine: same counts, several times slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sentinel.capture._fastpath",
            ["sentinel/capture/_fastpath.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
