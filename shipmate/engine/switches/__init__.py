"""Traffic switches: move traffic to a slot atomically, and back (nginx, symlink)."""
