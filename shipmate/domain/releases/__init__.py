"""Release actions as pure rules: the lineage of versions and the plans that walk it."""
