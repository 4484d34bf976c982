"""Deployed policies: observation layout, networks, and bundles (shared by training and runtime)."""
