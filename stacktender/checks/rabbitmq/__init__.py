"""RabbitMQ checks: cluster nodes, the broker's health checks, queues, queue growth,
connections, OpenStack (oslo.messaging) signs and an AMQP round trip.

The management HTTP API (target URL, default ``http://guest:guest@127.0.0.1:15672``)
serves every check but the round trip; AMQP (target extra ``amqp_url``, default derived
from the management URL: ``amqp://guest:guest@127.0.0.1:5672/``) serves the round trip
and the real-time queue samples of ``rabbitmq-queue-growth``. httpx and py-amqp are
imported only when a check runs.
"""

from __future__ import annotations

from stacktender.checks.base import Check
from stacktender.checks.rabbitmq.connections import CONNECTIONS
from stacktender.checks.rabbitmq.node import HEALTH, NODE
from stacktender.checks.rabbitmq.openstack import OPENSTACK
from stacktender.checks.rabbitmq.queues import GROWTH, QUEUES
from stacktender.checks.rabbitmq.roundtrip import ROUNDTRIP
from stacktender.hookspecs import hookimpl

__all__ = ["CHECKS", "stacktender_checks"]

CHECKS = (NODE, HEALTH, QUEUES, GROWTH, CONNECTIONS, OPENSTACK, ROUNDTRIP)


@hookimpl
def stacktender_checks() -> list[Check]:
    return list(CHECKS)
