"""Products, environments and versions: listing them (:mod:`.listing`), renaming,
merging and archiving them (:mod:`.changes`), and the ``[catalog]`` settings that
decide what a write naming a new one does (:mod:`.policy`)."""
