"""Usage metering and billing from the notifications OpenStack services already emit.

Owns: decoding oslo.messaging envelopes, turning lifecycle events into usage,
the RabbitMQ consumer (ack after commit, de-duplicated by message id, dead letters),
reconciliation against the APIs, price sheets and invoices. Its tables are in
:mod:`stacktender.metering.tables`.
"""
