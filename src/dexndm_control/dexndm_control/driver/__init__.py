"""LEAP hand driver: the pure core (driver/core.py) behind the `leap_driver` node."""
