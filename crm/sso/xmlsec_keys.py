"""xmlsec keys loaded once per thread: they are C objects, not to be shared between threads (like the compiled
schemas), and loading one parses its PEM each time. Signature checks and decryption both keep theirs here."""
from __future__ import annotations

import threading

import xmlsec

_keys = threading.local()
MAX_PER_THREAD = 64  # past this many distinct keys, a thread starts over (bounded memory, whatever the providers)


def loaded_key(fingerprint: str, pem: str | bytes, key_format: int) -> xmlsec.Key:
    """The key with this fingerprint, loaded from `pem` the first time this thread asks for it."""
    cache = _keys.__dict__.setdefault("by_fingerprint", {})
    key = cache.get(fingerprint)
    if key is None:
        if len(cache) >= MAX_PER_THREAD:
            cache.clear()
        key = cache[fingerprint] = xmlsec.Key.from_memory(pem, key_format, None)
    return key
