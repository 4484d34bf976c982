"""Pure-Python cores of the control nodes (no rclpy imports: unit-tested without ROS)."""
