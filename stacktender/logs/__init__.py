"""Logs: parse, merge, filter, trace and mine OpenStack logs across hosts.

Sources (files, compressed files, stdin, SSH, Ansible-collected folders) yield
lines; the parser turns them into LogRecords; a k-way merge orders them by time;
filters keep what was asked for; then a command prints, traces, groups errors,
mines templates, diffs, indexes or ships them.
"""
