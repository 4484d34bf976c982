"""A process launcher for ROS 2 launch files (XML and YAML frontends), usable without a ROS
install.

The supported subset is documented in docs/launch.md; everything outside it is rejected with the
file, line and construct named. ``load_launch_file`` parses, ``resolve_launch`` evaluates arguments,
substitutions and conditions into process specs, and ``Supervisor`` runs them.
"""

from dexndm_control.launcher.description import LaunchArgument, ProcessSpec, resolve_launch
from dexndm_control.launcher.frontends import load_launch_file
from dexndm_control.launcher.supervisor import Supervisor

__all__ = ["LaunchArgument", "ProcessSpec", "Supervisor", "load_launch_file", "resolve_launch"]
