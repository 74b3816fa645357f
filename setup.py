"""Build wiring for the optional C accelerator of message isolation.

Everything else about the package is declared in pyproject.toml. The extension
``beamlet.kernel._isolate`` is optional: where no C compiler or no Python headers exist the
build warns and goes on, and ``beamlet.kernel.isolation`` uses its pure-Python ``isolate``.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install: a missing compiler only costs speed."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # noqa: BLE001 - e.g. no compiler configured at all
            self._warn(error)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:  # noqa: BLE001 - compiler missing or failing, no headers
            self._warn(error)

    def _warn(self, error: Exception) -> None:
        self.warn(
            f"beamlet: the C accelerator was not built ({error}); "
            "message isolation uses its pure-Python implementation"
        )


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
        )
    ]
    + DIST_EXTENSIONS,
    cmdclass={"build_ext": OptionalBuildExt},
)
