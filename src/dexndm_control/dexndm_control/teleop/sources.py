"""Pick an input source by name; every source has start(), stop(), received, dropped_malformed
and last_error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dexndm_control.errors import DexndmError
from dexndm_control.settings import setting
from dexndm_control.teleop.controller_state import ControllerState

SOURCES = ("oculus_reader", "webxr", "keyboard", "gamepad")


@dataclass(frozen=True)
class SourceConfig:
    name: str = setting("webxr", param="source",
                        help="oculus_reader (adb logcat), webxr (Quest browser), keyboard, "
                             "gamepad")
    adb: str = "adb"
    adb_device: str = setting("", deployment=True,
                              help="USB serial, or ip:5555 for adb over Wi-Fi (oculus_reader)")
    logcat_command: str = setting("", deployment=True,
                                  help="replaces `adb logcat` (replays, tests)")
    webxr_host: str = setting("127.0.0.1", help="reach it from the headset with `adb reverse "
                                                "tcp:8765 tcp:8765`")
    webxr_port: int = 8765
    webxr_token: str = setting("", help="empty: a fresh random token, printed at start-up")
    gamepad_device: str = "/dev/input/js0"

    def __post_init__(self) -> None:
        if self.name not in SOURCES:
            raise DexndmError(f"unknown teleop source {self.name!r}; choose {', '.join(SOURCES)}")
        if not 0 <= self.webxr_port <= 65535:
            raise DexndmError("webxr_port must be within 0..65535 (0: any free port)")


def make_source(config: SourceConfig, on_state: Callable[[ControllerState], None]):
    if config.name == "oculus_reader":
        from dexndm_control.teleop.oculus_reader import OculusReaderSource, require_adb
        if not config.logcat_command:
            require_adb(config.adb)
        return OculusReaderSource(on_state, config.adb_device, config.adb, config.logcat_command)
    if config.name == "webxr":
        from dexndm_control.teleop.webxr import WebXRSource
        return WebXRSource(on_state, config.webxr_host, config.webxr_port, config.webxr_token)
    from dexndm_control.teleop.virtual_controller import GamepadSource, KeyboardSource
    if config.name == "keyboard":
        return KeyboardSource(on_state)
    return GamepadSource(on_state, config.gamepad_device)
