"""The Redis migration helpers' old import path, kept for migration files already applied: their text is
checksummed, so an import they make cannot change. The code lives in dbtools.backends.redis.tools."""

from dbtools.backends.redis.tools import BATCH, batches, expire_keys, persist_keys, rename_keys, reshape_hashes

__all__ = ["BATCH", "batches", "expire_keys", "persist_keys", "rename_keys", "reshape_hashes"]
