"""Release actions: defining them, syncing a versions folder, and running them inside runs."""
