"""Find the program behind ``<node pkg=... exec=...>`` on a ROS install or in a pip environment."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from dexndm_control.errors import LaunchFileError


def _normal(name: str) -> str:
    return name.replace("-", "_").lower()


def find_package_executable(package: str, executable: str, entity=None) -> list[str]:
    """Return the argv prefix that runs ``executable`` of ``package``.

    1. A colcon install: ``<prefix>/lib/<package>/<executable>`` on AMENT_PREFIX_PATH.
    2. A pip install: a console script of that name published by the package's distribution,
       run with this interpreter (the ROS wheels' bootstrap must see the same environment).
    """
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidate = Path(prefix, "lib", package, executable)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    for entry in entry_points(group="console_scripts", name=executable):
        if entry.dist is not None and _normal(entry.dist.name) == _normal(package):
            script = Path(sys.executable).parent / executable
            if script.is_file():
                return [sys.executable, str(script)]
            module, _, attr = entry.value.partition(":")
            return [sys.executable, "-c",
                    f"import sys; from {module} import {attr} as main; sys.exit(main())"]
    message = (f"package '{package}' has no executable '{executable}': install it "
               f"(pip install -e src/{package}, or colcon build and source install/setup.bash)")
    if entity is not None:
        raise LaunchFileError(entity.file, entity.line, message)
    raise LaunchFileError("<command line>", None, message)
