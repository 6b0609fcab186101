"""Upgrades: an ordered plan for this cloud, config diff between releases, database
migration state, pre-checks, rolling Ansible runs, and rehearsal on a copy.

Release knowledge (option metadata, migration heads) is read from the real packages,
installed into isolated, cached virtual environments, never into stacktender's own.
"""
