"""Neural dynamics: joint-wise (DexNDM), finger-wise, whole-hand and shared-weight models."""
