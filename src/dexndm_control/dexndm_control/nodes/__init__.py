"""Thin rclpy nodes; their logic lives in pure modules beside them."""
