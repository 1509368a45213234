"""Everything about the package is in pyproject.toml except one file setuptools cannot place.

``golden_path_strict.pth`` goes to the top of site-packages, where the interpreter runs it at
start-up (the ``site`` module's documented hook): with ``GOLDEN_PATH_STRICT`` set, strict mode
is on before any app code runs, in processes that never import golden_path. Without the
variable the line does nothing but read it. pytest-cov shipped its .pth the same way.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "golden_path_strict.pth"


class BuildWithStrictHook(build_py):
    """build_py that also copies the .pth file to the top of the wheel."""

    def run(self) -> None:
        """Build the packages, then place the .pth beside them."""
        super().run()
        self.copy_file(PTH, os.path.join(self.build_lib, PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """What build_py wrote, the .pth included (the wheel's RECORD lists it)."""
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH)]


setup(cmdclass={"build_py": BuildWithStrictHook})
