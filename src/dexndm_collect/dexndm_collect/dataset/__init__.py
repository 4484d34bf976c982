"""Bags -> transition shards (design.md section 4), and coverage statistics."""
