"""PPO specialists per object category on the MuJoCo rotation environment (rsl-rl-lib)."""
