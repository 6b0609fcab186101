"""The REST API (FastAPI): the same library functions the CLI calls, behind Keystone
authentication. Needs the ``web`` extra."""
