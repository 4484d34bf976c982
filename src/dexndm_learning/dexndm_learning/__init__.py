"""DexNDM learning: dynamics models, residual policy, BC generalist, PPO specialists, evaluation."""

__version__ = "0.1.0"
