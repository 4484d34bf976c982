"""Dynamixel Protocol 2.0 motors: control table (data), bus interface, dynamixel-sdk bus."""
