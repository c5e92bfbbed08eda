"""An interrupted run loses nothing: no partial or temporary file is left, an existing output is
kept, the inputs are untouched, and what a batch finished before the signal stays complete."""

from __future__ import annotations

import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

import codec
from codec.cli import atomic_output


def test_an_interrupted_write_leaves_the_old_output_and_no_temporary_file(tmp_path):
    target = tmp_path / "a.aec"
    target.write_bytes(b"precious")
    with pytest.raises(KeyboardInterrupt), atomic_output(target, force=True) as tmp, open(tmp, "wb") as f:
        f.write(b"half of the new file")
        f.flush()
        raise KeyboardInterrupt
    assert target.read_bytes() == b"precious"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_batch_stopped_by_a_signal_keeps_what_it_finished(cli, tmp_path, astronaut, signum):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(6):
        Image.fromarray(np.rot90(astronaut, i % 4).copy()).save(src / f"photo{i}.png")
    originals = {p.name: p.read_bytes() for p in src.iterdir()}
    # A shell that starts a job in the background (`pytest ... &`) makes it ignore SIGINT, the
    # child inherits that, and Python then never turns SIGINT into KeyboardInterrupt. A handler
    # (unlike "ignore") is reset to the default by exec, so the child starts as from a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([*cli.argv0, "encode", *sorted(src.iterdir()), "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 600
    while not (out.exists() and any(out.glob("*.aec"))) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the batch ended before it could be interrupted"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 128 + signum, err.decode()
    assert err.decode().splitlines()[-1] == "aecodec: interrupted"
    done = sorted(out.iterdir())
    assert 1 <= len(done) < 6 and all(p.suffix == ".aec" and not p.name.startswith(".") for p in done), done
    for p in done:
        assert codec.info(p).header.width == 512  # complete: its checksum holds
    assert {p.name: p.read_bytes() for p in src.iterdir()} == originals
