"""Pure-Python cores of the collect nodes (no rclpy)."""
