"""Build wiring for the optional C accelerators.

Everything else about the package is declared in pyproject.toml. Every extension here is
optional: where no C compiler or no Python headers exist the build warns and goes on, and the
module it would speed up uses its pure-Python implementation (``beamlet.kernel._isolate`` for
``beamlet.kernel.isolation``, ``beamlet.kernel._patterns`` for ``beamlet.kernel.patterns``, and the
blocks below).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install: a missing compiler only costs speed."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # noqa: BLE001 - e.g. no compiler configured at all
            self._warn("the C accelerators", error)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:  # noqa: BLE001 - compiler missing or failing, no headers
            self._warn(ext.name, error)

    def _warn(self, what: str, error: Exception) -> None:
        self.warn(f"beamlet: {what} not built ({error}); the pure-Python implementation is used")


# --- beamlet.dist block (owned by the ETF codec) -------------------------------------------
# The C fast path of beamlet.dist.etf. Optional as well: etf.py has the whole codec in pure
# Python and uses this module only when it was built.
DIST_EXTENSIONS = [
    Extension("beamlet.dist._etf", sources=["src/beamlet/dist/_etf.c"], optional=True),
]
# --- end of the beamlet.dist block ---------------------------------------------------------


setup(
    ext_modules=[
        Extension(
            "beamlet.kernel._isolate",
            sources=["src/beamlet/kernel/_isolate.c"],
            optional=True,
        ),
        Extension(
            "beamlet.kernel._patterns",
            sources=["src/beamlet/kernel/_patterns.c"],
            optional=True,
        ),
    ]
    + DIST_EXTENSIONS,
    cmdclass={"build_ext": OptionalBuildExt},
)
