"""Residual policy trained through a frozen dynamics model (paper section 3.3)."""
