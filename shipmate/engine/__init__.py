"""Every outside effect of a deploy, behind small interfaces.

Targets start and stop a version in a slot; health checks probe it; switches move
traffic; drain checks count in-flight work.  Each has real implementations and,
where useful, an in-package fake used by tests of the layers above.
"""
