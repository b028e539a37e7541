"""Changelogs between two deployed commits, read from a local git repository.

:mod:`~shipmate.services.changelog.repository` finds a product's checkout and reads
it with git; :mod:`~shipmate.services.changelog.commit_range` works out the two ends
from shipmate's records, without git; :mod:`~shipmate.services.changelog.assembly`
reads the commits between them and groups them into a :class:`Changelog
<shipmate.services.changelog.assembly.Changelog>`.
"""
