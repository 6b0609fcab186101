"""Checks: the check model, the runner, and one module per built-in check family.

``base`` defines :class:`Check`; ``runner`` resolves instances from configuration
and runs them with timeouts, alone or as a concurrent sweep. The family modules
(rabbitmq, mysql, memcached, haproxy, ovs, postgres) are plugins registered through
the ``stacktender`` entry-point group, like any third-party check.
"""
