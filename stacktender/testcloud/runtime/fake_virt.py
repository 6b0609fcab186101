# mypy: ignore-errors
"""nova's fake virt driver, made restartable (loaded by nova-compute in the testcloud).

Runs under the testcloud venv's python (never imported by stacktender). nova's
``fake.FakeDriver`` invents new node UUIDs in every process and forgets its guests
when nova-compute stops, so a restarted nova-compute refuses to start or reports
its servers gone. Here node UUIDs derive from the node name, and guests outlive a
nova-compute restart the way real VMs do: an instance nova asks about that this
process never saw (and did not destroy) is reported running.
"""

from __future__ import annotations

import uuid

from nova.compute import power_state
from nova.virt import fake

NAMESPACE = uuid.UUID("6f1d7c52-3f7a-5b0e-9a51-7e1f4a8c2d10")


def node_uuid(nodename: str) -> str:
    return str(uuid.uuid5(NAMESPACE, nodename))


class StableFakeDriver(fake.FakeDriver):
    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._destroyed: set[str] = set()

    def get_available_resource(self, nodename):
        resources = super().get_available_resource(nodename)
        if resources:
            resources["uuid"] = node_uuid(nodename)
        return resources

    def get_nodenames_by_uuid(self, refresh=False):
        return {node_uuid(name): name for name in self.get_available_nodes()}

    def get_info(self, instance, use_cache=True):
        if instance.uuid not in self.instances and instance.uuid not in self._destroyed:
            self.instances[instance.uuid] = fake.FakeInstance(
                instance.name, power_state.RUNNING, instance.uuid
            )
        return super().get_info(instance, use_cache)

    def destroy(self, context, instance, *args, **kwargs):
        self._destroyed.add(instance.uuid)
        return super().destroy(context, instance, *args, **kwargs)
