"""The team cache (compiler/team_cache.py): compiled graphs shared through a real Redis
server started here on a free port; tampered entries never load, a missing secret or a
server that is down never fails a compile."""

import shutil
import socket
import subprocess
import threading
import time
import warnings

import pytest
import torch

import mlirfuse
from mlirfuse.compiler import graph_cache, team_cache

redis = pytest.importorskip("redis", reason="the redis package (the test extra) is missing")


def f(x, y):
    return torch.tanh(x @ y) * 2 + x.mean()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server (Debian's redis-server package; .ci/run installs it)")
    port = _free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    yield client, f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def team(server, tmp_path, monkeypatch):
    client, url = server
    # The test before may still be sharing its warm start (a background thread, after the
    # code's link): written after the flush, it was a hit here (a CI run saw 1 key of 2).
    _shared()
    client.flushall()
    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("MLIRFUSE_REDIS_URL", url)
    monkeypatch.setenv("MLIRFUSE_CACHE_SECRET", "the team's secret")
    for name in ("MLIRFUSE_GRAPH_CACHE", "MLIRFUSE_CPU_CODE_CACHE"):
        monkeypatch.delenv(name, raising=False)
    team_cache._state.update(client=None, url=None, down=False)
    team_cache._warned.clear()
    graph_cache._warned.clear()
    return client


def _compile():
    x, y = torch.randn(32, 32), torch.randn(32, 32)
    compiled = mlirfuse.compile(f)
    torch.testing.assert_close(compiled(x, y), f(x, y))
    return compiled._last.graph


def _other_machine(monkeypatch, tmp_path):
    """A process whose disk cache is empty (another machine of the team)."""
    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path / "b"))


def _graph_keys(team):
    """The compiled graphs' entries (not the warm start's: test_warm_start_team below)."""
    return [k for k in team.keys(team_cache.PREFIX + "*") if b":warm-" not in k]


def _shared():
    """Waits for the warm start's entries to reach the server (after the code's link)."""
    for thread in threading.enumerate():
        if thread.name == "mlirfuse-warm-share":
            thread.join()


def test_an_empty_disk_loads_the_teams_entry(team, monkeypatch, tmp_path):
    assert not _compile().from_cache
    assert len(_graph_keys(team)) == 1
    _other_machine(monkeypatch, tmp_path)
    monkeypatch.setenv("MLIRFUSE_WARM_START", "0")  # the graph's entry, not the warm one
    graph = _compile()
    assert graph.from_cache and not graph.executable.from_disk
    assert list((tmp_path / "b" / "graphs").glob("*.entry"))  # kept on disk too


def test_a_warm_start_comes_from_the_team_with_its_code(team, monkeypatch, tmp_path):
    """The team's warm entry carries the code's library: an empty disk loads it with no
    capture, no stage and no JIT."""
    _compile()
    _shared()
    (key,) = [k for k in team.keys(team_cache.PREFIX + "*") if b":warm-" in k]
    _other_machine(monkeypatch, tmp_path)
    x, y = torch.randn(32, 32), torch.randn(32, 32)
    compiled = mlirfuse.compile(f)
    torch.testing.assert_close(compiled(x, y), f(x, y))
    assert compiled.stats.cache_loads == 1 and sorted(compiled.timings()) == ["load", "total"]
    assert list((tmp_path / "b" / "cpu").glob("cpu-*.so"))  # installed, private


def test_code_from_the_team_runs_on_this_processs_runtime(team, tmp_path):
    """Processes with other cache folders (other machines): the second loads the first's
    code from the server, and it computes the same bits. Linked against the runtime
    libraries by path, it took the first's BLAS library, never initialized in the second
    process: plain-loop matmuls, 5e-6 off eager."""
    import json
    import os
    import sys

    from test_warm_start import SCRIPT

    runs = []
    for folder in ("a", "b"):
        env = {**os.environ, "MLIRFUSE_CACHE_DIR": str(tmp_path / folder)}
        done = subprocess.run([sys.executable, "-c", SCRIPT, "2.0", "0.0", "cpu"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    assert [r["loads"] for r in runs] == [0, 1] and runs[1]["phases"] == ["load", "total"]
    assert runs[1]["bits"] == runs[0]["bits"]


@pytest.mark.parametrize("tamper", ["altered", "other secret"])
def test_a_tampered_entry_is_refused_and_compiled_again(team, monkeypatch, tmp_path, tamper):
    _compile()
    _shared()
    keys = team.keys(team_cache.PREFIX + "*")
    assert len(keys) == 2  # the graph's entry, and the warm start's with its code
    for key in keys:
        value = team.get(key)
        if tamper == "altered":  # the code changed, the HMAC kept
            value = value[:-1] + bytes([value[-1] ^ 1])
        else:  # a valid entry, signed with a secret that is not the team's
            monkeypatch.setenv("MLIRFUSE_CACHE_SECRET", "not the team's")
            name = key.decode().removeprefix(team_cache.PREFIX)
            value = team_cache._mac(name, value[32:]) + value[32:]
            monkeypatch.setenv("MLIRFUSE_CACHE_SECRET", "the team's secret")
        team.set(key, value)
    _other_machine(monkeypatch, tmp_path)
    with pytest.warns(UserWarning, match="fails its HMAC"):
        graph = _compile()
    assert not graph.from_cache  # (a warm start's graph comes from a cache too)


def test_without_a_secret_the_team_cache_stays_off(team, monkeypatch):
    monkeypatch.delenv("MLIRFUSE_CACHE_SECRET")
    with pytest.warns(UserWarning, match="MLIRFUSE_CACHE_SECRET is not"):
        _compile()
    assert team.keys("*") == []


def test_a_server_that_is_down_costs_one_warning(team, monkeypatch):
    monkeypatch.setenv("MLIRFUSE_REDIS_URL", f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.warns(UserWarning, match="did not answer"):
        assert not _compile().from_cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked no more: no second warning
        torch.manual_seed(1)
        compiled = mlirfuse.compile(lambda x: x * 3 + 1)
        compiled(torch.randn(8))
