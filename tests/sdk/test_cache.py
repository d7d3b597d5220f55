"""The cache file: a whole namespace config per file, replaced atomically.
A writer SIGKILLed at random moments while it rewrites the file again and
again leaves a file that is always one whole state it wrote; a leftover
temporary file is ignored; an unreadable file is ignored, not fatal."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from config_center_client import NamespaceConfig
from config_center_client.cache import ConfigCache

REPO = Path(__file__).resolve().parents[2]
SEED = 424242


def config(revision: int, size: int = 10) -> NamespaceConfig:
    return NamespaceConfig.from_json({
        "namespace": "payments/prod", "revision": revision, "release": revision // 2,
        "items": {f"item{i}.txt": {"format": "text", "content": f"{revision}:" + "x" * size, "revision": revision}
                  for i in range(3)},
    })


def test_save_and_load(tmp_path):
    cache = ConfigCache(tmp_path / "cache")
    assert cache.load("payments/prod") is None
    path = cache.save(config(7))
    assert path.name == "payments%2Fprod.json" and oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = cache.load("payments/prod")
    assert loaded.source == "cache" and loaded.to_json() == config(7).to_json()
    assert [p.name for p in path.parent.iterdir()] == [path.name], "nothing but the file"


def test_unreadable_files_and_leftovers_are_ignored(tmp_path, caplog):
    cache = ConfigCache(tmp_path)
    path = cache.save(config(7))
    leftover = tmp_path / f".{path.name}.abc.tmp"
    leftover.write_text('{"version": 1, "namespace": "payments/prod", "revi')  # a crashed save
    assert cache.load("payments/prod").revision == 7
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))
    cache.save(config(8))
    assert not leftover.exists(), "an old leftover is removed by the next save"
    path.write_text("not json")
    assert cache.load("payments/prod") is None
    path.write_text(json.dumps({"version": 1, **config(9).to_json(), "namespace": "other/ns"}))
    assert cache.load("payments/prod") is None
    assert "ignoring" in caplog.text


WRITER = """
import sys
from config_center_client.cache import ConfigCache
from config_center_client import NamespaceConfig
cache = ConfigCache(sys.argv[1])
revision = int(sys.argv[2])
while True:
    revision += 1
    cache.save(NamespaceConfig.from_json({"namespace": "payments/prod", "revision": revision, "release": 1,
        "items": {"big.txt": {"format": "text", "content": str(revision) * 20000, "revision": revision}}}))
    print(revision, flush=True)
"""


def test_a_writer_killed_mid_write_never_leaves_a_partial_file(tmp_path):
    rng = random.Random(SEED)
    cache = ConfigCache(tmp_path)
    last = 0
    for _ in range(8):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(last)], cwd=REPO,
                                  stdout=subprocess.PIPE, text=True)
        # Let it write a few times, then kill it at a random moment.
        writer.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.05))
        writer.send_signal(signal.SIGKILL)
        printed = writer.stdout.read().split()
        writer.wait(10)
        loaded = cache.load("payments/prod")
        assert loaded is not None, "the file must always hold a whole state"
        content = loaded.items["big.txt"].content
        assert content == str(loaded.revision) * 20000, f"seed {SEED}: a state mixed from two writes"
        # Whatever the kill interrupted, the file holds a completed save,
        # at least as new as the last one the writer reported.
        done = int(printed[-1]) if printed else last + 1
        assert loaded.revision >= done and loaded.revision > last, f"seed {SEED}"
        last = loaded.revision
