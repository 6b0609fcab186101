"""The built-in metering handlers (nova, cinder, neutron, glance), registered as a plugin.

Each line says which events of one payload family meter one kind of resource and which
of them end it. Only ``*.end`` (or final) events are read: a ``*.start`` says nothing
about the state a resource ends up in.
"""

from __future__ import annotations

from stacktender.hookspecs import hookimpl
from stacktender.metering import handlers as h
from stacktender.metering.handlers import EventHandler
from stacktender.metering.records import Meter

# Instance actions that leave a new vm state or flavor; nova sends each one twice
# (legacy and versioned, different message ids), which usage merges as one state.
_NOVA_ACTIONS = (
    "create.end", "power_off.end", "power_on.end", "reboot.end", "rebuild.end",
    "shelve.end", "shelve_offload.end", "unshelve.end", "suspend.end", "resume.end",
    "pause.end", "unpause.end", "rescue.end", "unrescue.end", "delete.end",
    "soft_delete.end", "restore.end", "evacuate", "live_migration._post.end", "exists",
)  # fmt: skip
_NOVA_LEGACY_RESIZE = ("finish_resize.end", "resize.confirm.end", "resize.revert.end")
_NOVA_VERSIONED_RESIZE = ("resize_finish.end", "resize_confirm.end", "resize_revert.end")

NOVA_LEGACY = EventHandler(
    Meter.INSTANCE,
    h.nova_legacy,
    frozenset(f"compute.instance.{a}" for a in _NOVA_ACTIONS + _NOVA_LEGACY_RESIZE),
    frozenset({"compute.instance.delete.end"}),
)
NOVA_VERSIONED = EventHandler(
    Meter.INSTANCE,
    h.nova_versioned,
    frozenset(f"instance.{a}" for a in _NOVA_ACTIONS + _NOVA_VERSIONED_RESIZE),
    frozenset({"instance.delete.end"}),
)
CINDER_VOLUME = EventHandler(
    Meter.VOLUME,
    h.cinder_volume,
    frozenset(
        {
            "volume.create.end",
            "volume.resize.end",
            "volume.retype",
            "volume.update.end",
            "volume.exists",
            "volume.delete.end",
        }
    ),
    frozenset({"volume.delete.end"}),
)
CINDER_SNAPSHOT = EventHandler(
    Meter.SNAPSHOT,
    h.cinder_snapshot,
    frozenset({"snapshot.create.end", "snapshot.update.end", "snapshot.delete.end"}),
    frozenset({"snapshot.delete.end"}),
)
CINDER_BACKUP = EventHandler(
    Meter.BACKUP,
    h.cinder_backup,
    frozenset({"backup.create.end", "backup.delete.end"}),
    frozenset({"backup.delete.end"}),
)
NEUTRON_FLOATINGIP = EventHandler(
    Meter.FLOATING_IP,
    h.neutron_floatingip,
    frozenset({"floatingip.create.end", "floatingip.delete.end"}),
    frozenset({"floatingip.delete.end"}),
)
GLANCE_IMAGE = EventHandler(
    Meter.IMAGE,
    h.glance_image,
    # image.create has no size yet: the image costs nothing until it is uploaded.
    frozenset({"image.upload", "image.activate", "image.delete"}),
    frozenset({"image.delete"}),
)

BUILTIN_HANDLERS = (
    NOVA_LEGACY, NOVA_VERSIONED, CINDER_VOLUME, CINDER_SNAPSHOT, CINDER_BACKUP,
    NEUTRON_FLOATINGIP, GLANCE_IMAGE,
)  # fmt: skip


@hookimpl
def stacktender_metering_handlers() -> list[EventHandler]:
    return list(BUILTIN_HANDLERS)
