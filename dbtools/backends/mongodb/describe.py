"""What the database looks like: describe (for people) and snapshot (for comparisons)."""

from __future__ import annotations

from typing import Any

from dbtools.backends.mongodb.client import MongoClient, _mapped, _plain
from dbtools.backends.mongodb.driver_backup import TRANSIENT
from dbtools.backends.mongodb.history import HISTORY
from dbtools.backends.mongodb.lock import LOCKS


class MongoDescribe(MongoClient):
    """describe and snapshot."""

    @_mapped
    def describe(self) -> list[dict[str, Any]]:
        """Collections for docs/schema.md: purpose and fields from the $jsonSchema validator, indexes."""
        described = []
        for info in sorted(self._db.list_collections(), key=lambda i: i["name"]):
            name = info["name"]
            if name in (HISTORY, LOCKS) or name.startswith(("system.", *TRANSIENT)):
                continue
            schema = info.get("options", {}).get("validator", {}).get("$jsonSchema", {})
            required = set(schema.get("required", []))
            fields = []
            for field, spec in schema.get("properties", {}).items():
                kind = spec.get("bsonType") or (
                    "enum: " + ", ".join(map(str, spec["enum"])) if "enum" in spec else "any"
                )
                fields.append(
                    [
                        field,
                        " | ".join(kind) if isinstance(kind, list) else kind,
                        "required" if field in required else "",
                    ]
                )
            indexes = []
            for index, spec in sorted(self._db[name].index_information().items()):
                if index == "_id_":
                    continue
                keys = ", ".join(f"{k}{' desc' if d == -1 else ''}" for k, d in spec["key"])
                extra = " unique" if spec.get("unique") else ""
                extra += f" TTL {spec['expireAfterSeconds']} s" if "expireAfterSeconds" in spec else ""
                indexes.append(f"index ({keys}){extra}")
            described.append(
                {
                    "name": name,
                    "kind": info.get("type", "collection"),
                    "purpose": schema.get("description", ""),
                    "keys": "; ".join(indexes),
                    "fields": fields,
                    "references": [],
                }
            )
        return described

    def snapshot(self) -> dict[str, Any]:
        """Collections and views with their options (validators, capped, TTL, time series) and indexes."""
        collections: dict[str, Any] = {}
        for info in self._db.list_collections():
            name = info["name"]
            if name in (HISTORY, LOCKS) or name.startswith(("system.", *TRANSIENT)):
                continue
            kind = info.get("type", "collection")  # collection | view | timeseries
            entry: dict[str, Any] = {"type": kind, "options": _plain(info.get("options", {}))}
            if kind != "view":
                entry["indexes"] = {
                    index: _plain({k: v for k, v in spec.items() if k not in ("v", "ns")})
                    for index, spec in sorted(self._db[name].index_information().items())
                }
            collections[name] = entry
        return {"collections": dict(sorted(collections.items()))}
