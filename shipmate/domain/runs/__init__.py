"""A deploy or rollback run as data: its steps, the plan they follow, its live state."""
