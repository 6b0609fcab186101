"""Build the optional compiled text merge (stacktender/logs/_cmerge*.c).

Everything else is in pyproject.toml. ``optional=True``: without a C compiler or
Python's headers the install still succeeds and ``stacktender logs merge`` uses its
pure-Python path (stacktender.logs.fastmerge), which gives the same output.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "stacktender.logs._cmerge",
            ["stacktender/logs/_cmerge.c", "stacktender/logs/_cmerge_read.c"],
            depends=["stacktender/logs/_cmerge.h"],
            optional=True,
        )
    ]
)
