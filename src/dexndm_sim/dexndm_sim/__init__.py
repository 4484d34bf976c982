"""DexNDM sim: MuJoCo LEAP hand simulation and the XC330 emulator behind the virtual hand."""

__version__ = "0.1.0"
