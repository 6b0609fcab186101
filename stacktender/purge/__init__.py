"""Cleanup of what deleted or disabled projects leave behind.

Owns: discovering a project's resources on every service in the catalog, the
dependency-ordered plan (a dry run unless told to execute), its concurrent execution
with retries and waits, the safety rules, orphan detection, database purges, and the
audit record of every deletion (tables in :mod:`stacktender.purge.tables`).
"""
