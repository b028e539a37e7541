"""Pure rules: versions, lifecycle, plans, gates, DORA math.

Only the standard library may be imported here: no clock, environment, network,
filesystem or SQL.  Everything those would provide is passed in.
"""
