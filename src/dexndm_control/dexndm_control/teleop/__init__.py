"""Quest 3 teleoperation without ROS: input sources (oculus_reader logcat, WebXR page, keyboard,
gamepad), their parsers, and the mapping to arm target, wrist orientation and rotation command."""
