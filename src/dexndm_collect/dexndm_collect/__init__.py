"""DexNDM collect: chaos-box replay collection, trajectory libraries and the rosbag2 recorder."""

__version__ = "0.1.0"
