"""What the schema looks like: snapshot (for comparisons) and describe (for people).

Functions of a connected backend, imported by its methods on first use: a migrate run needs none of them."""

from __future__ import annotations

from typing import Any

from dbtools.backends.base import HISTORY_NAME
from dbtools.backends.postgres.client import PostgresClient


def snapshot(backend: PostgresClient) -> dict[str, Any]:
    """Tables, columns, constraints, indexes, views, types, functions, triggers, extensions of user schemas."""
    user_schemas = (
        "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%%' "
        "AND n.nspname NOT LIKE 'pg_toast_temp%%'"
    )
    queries = {
        "columns": f"""SELECT n.nspname || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND c.relname <> '{HISTORY_NAME}' AND {user_schemas} ORDER BY 1, a.attnum""",
        "relations": f"""SELECT n.nspname || '.' || c.relname, c.relkind::text,
                CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relname NOT LIKE '{HISTORY_NAME}%%'
              AND {user_schemas} ORDER BY 1""",
        "constraints": f"""SELECT n.nspname || '.' || c.relname, k.conname, pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname <> '{HISTORY_NAME}' AND {user_schemas} ORDER BY 1, 2""",
        "indexes": f"""SELECT n.nspname || '.' || c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
            FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname <> '{HISTORY_NAME}' AND {user_schemas} ORDER BY 1, 2""",
        "types": f"""SELECT n.nspname || '.' || t.typname, t.typtype::text,
                (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                 FROM pg_enum e WHERE e.enumtypid = t.oid)
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.typtype IN ('e', 'd', 'c') AND {user_schemas}
              AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
            ORDER BY 1""",
        "functions": f"""SELECT n.nspname || '.' || p.proname
                || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                md5(pg_get_functiondef(p.oid))
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
            WHERE {user_schemas} AND p.prokind IN ('f', 'p') AND d.objid IS NULL ORDER BY 1""",
        "triggers": f"""SELECT n.nspname || '.' || c.relname, t.tgname, pg_get_triggerdef(t.oid)
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT t.tgisinternal AND {user_schemas} ORDER BY 1, 2""",
        "extensions": "SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
        "schemas": f"""SELECT n.nspname FROM pg_namespace n WHERE {user_schemas} ORDER BY 1""",
    }
    return {name: [list(row) for row in backend._query(sql)] for name, sql in queries.items()}


def describe(backend: PostgresClient) -> list[dict[str, Any]]:
    """Tables and views of the public schema for docs/schema.md: purpose (COMMENT ON TABLE), columns,
    keys and foreign keys."""
    objects = backend._query(
        "SELECT c.oid, c.relname, c.relkind::text, coalesce(obj_description(c.oid, 'pg_class'), '') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relname <> '{HISTORY_NAME}' "
        "ORDER BY c.relname"
    )
    kinds = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}
    described = []
    for oid, name, kind, purpose in objects:
        keys = {
            col: (ctype, ref)
            for col, ctype, ref in backend._query(
                "SELECT a.attname, k.contype::text, "
                "CASE WHEN k.contype = 'f' THEN k.confrelid::regclass::text || '.' || "
                "(SELECT attname FROM pg_attribute WHERE attrelid = k.confrelid AND attnum = k.confkey[1]) END "
                "FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey) "
                "WHERE k.conrelid = %s AND k.contype IN ('p', 'f') ORDER BY k.contype DESC, a.attnum",
                (oid,),
            )
        }
        fields = []
        for column, ctype, not_null, default in backend._query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "coalesce(pg_get_expr(d.adbin, d.adrelid), CASE WHEN a.attidentity <> '' THEN 'identity' END) "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (oid,),
        ):
            notes = []
            key, ref = keys.get(column, (None, None))
            if key == "p":
                notes.append("primary key")
            if key == "f":
                notes.append(f"→ {ref}")
            if not_null and key != "p":
                notes.append("not null")
            if default:
                notes.append(f"default {default}")
            fields.append([column, ctype, ", ".join(notes)])
        indexes = [
            ("unique " if row[0].startswith("CREATE UNIQUE") else "") + row[0].split(" USING ", 1)[-1]
            for row in backend._query(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s AND NOT indisprimary ORDER BY 1",
                (oid,),
            )
        ]
        described.append(
            {
                "name": name,
                "kind": kinds[kind],
                "purpose": purpose,
                "keys": "; ".join(f"index {i}" for i in indexes),
                "fields": fields,
                "references": [
                    [column, ref.split(".")[0], ref.split(".")[1]] for column, (key, ref) in keys.items() if key == "f"
                ],
            }
        )
    return described
