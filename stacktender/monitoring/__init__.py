"""Integrations with monitoring systems: Icinga 2 configuration export and a Prometheus
metrics endpoint. Each module is imported only by the command that uses it."""
