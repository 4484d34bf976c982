"""C code MuJoCo calls inside its physics step (compiled on first use, native/law.py)."""
