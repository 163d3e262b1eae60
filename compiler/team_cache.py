"""The team cache: compiled-graph entries (graph_cache.py) shared through a Redis server.

`MLIRFUSE_REDIS_URL` (redis://host:port/db) names the server; `MLIRFUSE_CACHE_SECRET` is the
team's shared secret. A miss on disk asks the server, a compile stores its entry there too.
An entry is code a process will run, so every value carries an HMAC-SHA256 of its key and
bytes under the secret: a value whose HMAC does not match (written without the secret,
altered on the way or on the server) is refused with a warning and the graph compiled
again. Without a secret the team cache stays off and says so once.

The server is never a reason to fail: each request waits at most MLIRFUSE_REDIS_TIMEOUT
seconds (default 0.5); a server that is down, slow or full is reported once as a warning,
and the process stops asking it (compiles go on, from disk and by compiling).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import warnings

PREFIX = "mlirfuse:graph:"
_MAC_BYTES = 32
_state = {"client": None, "url": None, "down": False}
_warned: set[str] = set()
_lock = threading.Lock()


def _warn(kind: str, message: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn(f"mlirfuse: team cache: {message}", stacklevel=4)


def _secret() -> bytes | None:
    secret = os.environ.get("MLIRFUSE_CACHE_SECRET", "")
    return secret.encode() if secret else None


def _client():
    """The Redis client of MLIRFUSE_REDIS_URL, or None: no URL, no secret, no redis
    package, or a server that failed before in this process."""
    url = os.environ.get("MLIRFUSE_REDIS_URL", "")
    if not url:
        return None
    if _secret() is None:
        _warn("secret", "MLIRFUSE_REDIS_URL is set but MLIRFUSE_CACHE_SECRET is not: entries "
                        "could not be authenticated, so the team cache is off")
        return None
    with _lock:
        if _state["url"] != url:  # a new server: its own chance
            _state.update(client=None, url=url, down=False)
        if _state["down"]:
            return None
        if _state["client"] is None:
            try:
                import redis
            except ImportError:
                _warn("package", "the redis package is not installed (pip install redis): "
                                 "the team cache is off")
                return None
            timeout = float(os.environ.get("MLIRFUSE_REDIS_TIMEOUT", "0.5"))
            _state["client"] = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return _state["client"]


def active() -> bool:
    """Whether entries go to a server (set up, and not found down in this process)."""
    return _client() is not None


def _failed(e: Exception) -> None:
    with _lock:
        _state["down"] = True
    _warn("server", f"{os.environ.get('MLIRFUSE_REDIS_URL')} did not answer ({e}); this "
                    "process compiles without it")


def _mac(name: str, data: bytes) -> bytes:
    return hmac.new(_secret(), name.encode() + b"\0" + data, hashlib.sha256).digest()


def get(name: str) -> bytes | None:
    """The bytes of entry `name` from the server when their HMAC matches; else None."""
    client = _client()
    if client is None:
        return None
    try:
        value = client.get(PREFIX + name)
    except Exception as e:  # redis' errors, sockets, a server speaking something else
        _failed(e)
        return None
    if value is None:
        return None
    mac, data = value[:_MAC_BYTES], value[_MAC_BYTES:]
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(name, data)):
        _warn("tampered", f"entry {name} fails its HMAC (written without this secret, or "
                          "altered): refused, compiled again")
        return None
    return data


def put(name: str, data: bytes) -> None:
    """Stores entry `name` on the server with its HMAC; a failure warns, never raises."""
    client = _client()
    if client is None:
        return
    try:
        client.set(PREFIX + name, _mac(name, data) + data)
    except Exception as e:
        _failed(e)
