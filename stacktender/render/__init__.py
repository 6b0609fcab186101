"""Renderers: turn rows and check results into table, JSON, YAML, CSV, value,
Nagios plugin output and Prometheus exposition text. Pure functions of their input."""
