"""Thin rclpy nodes of dexndm_collect."""
