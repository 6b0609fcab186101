"""Configuration files of the testcloud's services, as data.

Each project has sections shared by all its processes; each process adds a few of its
own (its log file, its host). Values are ``str.format`` templates filled from the
cloud's settings (ports, paths, database URLs, passwords); see
:func:`stacktender.testcloud.config.context`.
"""

from __future__ import annotations

__all__ = ["COMMON", "PROJECT_SECTIONS", "SERVICE_SECTIONS", "Sections"]

Sections = dict[str, dict[str, str]]


def _auth(user: str, **extra: str) -> dict[str, str]:
    """Password authentication of a service user in the ``service`` project."""
    return {
        "auth_url": "{keystone_url}",
        "auth_type": "password",
        "project_domain_name": "Default",
        "user_domain_name": "Default",
        "project_name": "service",
        "username": user,
        "password": "{service_password}",
        "region_name": "RegionOne",
        **extra,
    }


def _authtoken(user: str) -> dict[str, str]:
    return _auth(
        user,
        www_authenticate_uri="{keystone_url}",
        service_token_roles_required="true",
        service_token_roles="service",
    )


# Logging, messaging and notifications every oslo service gets.
COMMON: Sections = {
    "DEFAULT": {
        "host": "tc-controller",
        "debug": "{debug}",
        "transport_url": "{transport_url}",
        "log_file": "{logs}/{service}.log",
        "use_stderr": "false",
    },
    "oslo_messaging_notifications": {"driver": "messagingv2"},
    "oslo_messaging_rabbit": {"rabbit_qos_prefetch_count": "10"},
    "oslo_concurrency": {"lock_path": "{data}/locks"},
}

PROJECT_SECTIONS: dict[str, Sections] = {
    "keystone": {
        "database": {"connection": "{db_keystone}"},
        "token": {"provider": "fernet"},
        # bcrypt's minimum cost: every service login hashes; this is a test cloud
        "identity": {"password_hash_rounds": "4"},
        "fernet_tokens": {"key_repository": "{data}/keystone/fernet-keys"},
        "fernet_receipts": {"key_repository": "{data}/keystone/fernet-keys"},
        "credential": {"key_repository": "{data}/keystone/credential-keys"},
    },
    "placement": {
        "placement_database": {"connection": "{db_placement}"},
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": _authtoken("placement"),
    },
    "glance": {
        "DEFAULT": {
            "enabled_backends": "fs:file",
            "worker_self_reference_url": "{url_glance_api}",
        },
        "database": {"connection": "{db_glance}"},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": "{data}/glance/images"},
        "os_glance_staging_store": {"filesystem_store_datadir": "{data}/glance/staging"},
        "os_glance_tasks_store": {"filesystem_store_datadir": "{data}/glance/tasks"},
        "paste_deploy": {"flavor": "keystone", "config_file": "{etc}/glance/glance-api-paste.ini"},
        "keystone_authtoken": _authtoken("glance"),
    },
    "neutron": {
        "DEFAULT": {
            "core_plugin": "ml2",
            "service_plugins": "router",
            "auth_strategy": "keystone",
            "state_path": "{data}/neutron",
            "api_paste_config": "{etc}/neutron/api-paste.ini",
            "allow_overlapping_ips": "true",
            "notify_nova_on_port_status_changes": "true",
            "notify_nova_on_port_data_changes": "true",
            "rpc_workers": "1",
            "rpc_state_report_workers": "0",
            "agent_down_time": "{agent_down_time}",
        },
        "agent": {"report_interval": "{agent_report_interval}"},
        "database": {"connection": "{db_neutron}"},
        "keystone_authtoken": _authtoken("neutron"),
        "nova": _auth("nova"),
        "ml2": {
            "type_drivers": "flat,vlan,vxlan",
            "tenant_network_types": "vxlan",
            "mechanism_drivers": "openvswitch",
            "extension_drivers": "port_security",
        },
        "ml2_type_flat": {"flat_networks": "public"},
        "ml2_type_vxlan": {"vni_ranges": "1:1000"},
        "securitygroup": {"enable_security_group": "true"},
    },
    "nova": {
        "DEFAULT": {
            "my_ip": "127.0.0.1",
            "state_path": "{data}/nova",
            "instances_path": "{data}/nova/instances",
            # nova's fake.FakeDriver, restartable: stacktender/testcloud/runtime/fake_virt.py
            "compute_driver": "testcloud_fake.StableFakeDriver",
            # A stopped service shows as down after 20 s instead of 60: monitoring tests and
            # the demo wait for that, and nothing here needs the production slack.
            "report_interval": "5",
            "service_down_time": "20",
            # one compute host by default: a resize must be able to land on it
            "allow_resize_to_same_host": "true",
        },
        "api": {"auth_strategy": "keystone"},
        "wsgi": {"api_paste_config": "{etc}/nova/api-paste.ini"},
        "api_database": {"connection": "{db_nova_api}"},
        "database": {"connection": "{db_nova_cell1}"},
        "keystone_authtoken": _authtoken("nova"),
        "service_user": _auth("nova", send_service_user_token="true"),
        "placement": _auth("nova"),
        "neutron": _auth("nova"),
        "cinder": {**_auth("nova"), "os_region_name": "RegionOne"},
        "notifications": {"notification_format": "both"},
        "conductor": {"workers": "1"},
        "scheduler": {"workers": "1", "discover_hosts_in_cells_interval": "5"},
        "vnc": {"enabled": "false"},
    },
    "cinder": {
        "DEFAULT": {
            "auth_strategy": "keystone",
            "state_path": "{data}/cinder",
            "api_paste_config": "{etc}/cinder/api-paste.ini",
            "resource_query_filters_file": "{etc}/cinder/resource_filters.json",
            "my_ip": "127.0.0.1",
            "enabled_backends": "fake",
            "default_volume_type": "__DEFAULT__",
            "osapi_volume_workers": "1",
        },
        "database": {"connection": "{db_cinder}"},
        "keystone_authtoken": _authtoken("cinder"),
        "nova": _auth("cinder"),
        "service_user": _auth("cinder", send_service_user_token="true"),
        # No block device can back LVM here (no device-mapper): see docs/testcloud.md.
        "fake": {
            "volume_driver": "cinder.tests.fake_driver.FakeLoggingVolumeDriver",
            "volume_backend_name": "fake",
        },
    },
}

# What a single process adds on top of its project's sections.
SERVICE_SECTIONS: dict[str, Sections] = {
    # glance-api logs with oslo.log's JSON formatter: the JSON fixture of the logs module.
    "glance-api": {"DEFAULT": {"use_json": "true"}},
    "cinder-volume": {"DEFAULT": {"host": "tc-volume"}},
    # map new compute hosts to the cell within seconds, not after up to a minute
    "nova-scheduler": {"DEFAULT": {"periodic_fuzzy_delay": "0"}},
    "neutron-agents": {"testcloud": {"hosts": "{compute_hosts}"}},
}
