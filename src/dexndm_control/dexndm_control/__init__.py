"""DexNDM control: LEAP hand description, driver, policy controller, teleop and the `dexndm` CLI."""

__version__ = "0.1.0"
