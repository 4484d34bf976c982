"""A leap_driver whose command callback raises: checks that torque goes off on that path too."""

import sys

from dexndm_control.nodes.leap_driver import LeapDriver
from dexndm_control.ros_node import run_node


class RaisingDriver(LeapDriver):
    def _on_command(self, message) -> None:
        raise RuntimeError("injected failure in the command callback")


if __name__ == "__main__":
    sys.exit(run_node(RaisingDriver))
