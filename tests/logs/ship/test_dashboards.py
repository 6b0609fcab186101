"""The OpenSearch Dashboards saved-objects file: it parses, its references resolve, and
every field it uses is one the index template maps and the shipper writes.

No OpenSearch Dashboards runs here; this checks the file against the export format
(one saved object per line; JSON-in-string attributes; ``indexRefName`` and
``panelRefName`` resolved through ``references``) and against our own mapping.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import Any

from stacktender.logs.record import LogRecord
from stacktender.logs.ship import ShipRecord
from stacktender.logs.ship.opensearch import DEFAULT_PREFIX, document, index_template

KINDS = {"keyword": "string", "text": "string", "date": "date", "long": "number",
         "integer": "number", "boolean": "boolean"}  # fmt: skip


def _objects() -> list[dict[str, Any]]:
    text = files("stacktender").joinpath("data/opensearch/stacktender-logs-dashboards.ndjson")
    lines = text.read_text(encoding="utf-8").splitlines()
    assert all(lines), "no blank lines in an ndjson import file"
    return [json.loads(line) for line in lines]


def _pattern_fields() -> dict[str, dict[str, Any]]:
    (pattern,) = [o for o in _objects() if o["type"] == "index-pattern"]
    return {f["name"]: f for f in json.loads(pattern["attributes"]["fields"])}


def test_every_object_is_well_formed_and_references_resolve() -> None:
    objects = _objects()
    ids = {(o["type"], o["id"]) for o in objects}
    assert len(ids) == len(objects)
    assert {o["type"] for o in objects} == {"index-pattern", "search", "visualization",
                                             "dashboard"}  # fmt: skip
    for obj in objects:
        assert set(obj) >= {"id", "type", "attributes", "references"}
        names = {r["name"] for r in obj["references"]}
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, ref
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            source = json.loads(meta["searchSourceJSON"])
            if "indexRefName" in source:
                assert source["indexRefName"] in names
        if obj["type"] == "dashboard":
            panels = json.loads(obj["attributes"]["panelsJSON"])
            assert {p["panelRefName"] for p in panels} == names


def test_index_pattern_matches_the_template_and_the_documents() -> None:
    (pattern,) = [o for o in _objects() if o["type"] == "index-pattern"]
    assert pattern["attributes"]["title"] == f"{DEFAULT_PREFIX}-*"
    assert pattern["attributes"]["timeFieldName"] == "@timestamp"
    fields = _pattern_fields()
    mapping = index_template()["template"]["mappings"]["properties"]
    for name, spec in mapping.items():
        field = fields[name]
        assert field["esTypes"] == [spec["type"]] and field["type"] == KINDS[spec["type"]]
        assert field["aggregatable"] == (spec["type"] != "text"), name
    record = LogRecord(1.0, "h", "s", "ERROR", "l", 1, request_id="r", global_request_id="g",
                       user="u", project="p", instance="i", message="m", lines=["x"],
                       traceback=["t"], source="/f", lineno=1, fmt="oslo")  # fmt: skip
    assert set(document(ShipRecord(record, "id", 0))) <= set(fields)


def _fields_used(obj: dict[str, Any]) -> set[str]:
    used: set[str] = set()
    attributes = obj["attributes"]
    used.update(attributes.get("columns", []))
    used.update(field for field, _ in attributes.get("sort", []))
    if "visState" in attributes:
        for agg in json.loads(attributes["visState"])["aggs"]:
            if "field" in agg["params"]:
                used.add(agg["params"]["field"])
    meta = attributes.get("kibanaSavedObjectMeta")
    if meta:
        query = json.loads(meta["searchSourceJSON"]).get("query", {}).get("query", "")
        used.update(re.findall(r"([\w@.]+)\s*:", query))
    return used


def test_fields_used_by_searches_and_visualizations_are_indexed() -> None:
    fields = _pattern_fields()
    used: set[str] = set()
    for obj in _objects():
        used |= _fields_used(obj)
        if obj["type"] == "visualization":
            for agg in json.loads(obj["attributes"]["visState"])["aggs"]:
                field = agg["params"].get("field")
                if agg["type"] in ("terms", "date_histogram"):
                    assert fields[field]["aggregatable"], field
    assert used >= {"@timestamp", "service", "level", "message"}
    assert used <= set(fields), used - set(fields)
