"""Runs decoding in a child process for tests that must survive what they test: a crash of the
C++ entropy decoder (a segfault would kill pytest itself) or a different torch thread count.

    python tests/worker.py latents OUT_DIR THREADS FILE.aec...  # decompress_latent, pixels, re-encode
    python tests/worker.py decode FILE.aec...                     # one JSON line per file: outcome, time
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def latents(out_dir: Path, threads: int, files: list[Path]) -> None:
    """Save decompress_latent's output, the decoded pixels and a re-encode of them, per file."""
    from codec import api, coding, container

    torch.set_num_threads(threads)
    model, _ = api.load_model(None)
    for path in files:
        data = path.read_bytes()
        f = container.unpack(data)
        y_hat = coding.decompress_latent(model.latent, f.latent, f.header.quality)
        np.save(out_dir / f"{path.stem}.latent.npy", y_hat.numpy())
        pixels = np.asarray(api.decode(data))
        np.save(out_dir / f"{path.stem}.pixels.npy", pixels)
        (out_dir / f"{path.stem}.reencoded.aec").write_bytes(api.encode(pixels, quality=f.header.quality))


def decode(files: list[Path]) -> None:
    """Decode every file, reporting an AecError as an outcome and anything else as a bug."""
    from codec import api
    from codec.errors import AecError

    api.load_model(None)  # loading the model is not part of any file's time
    for path in files:
        t0 = time.perf_counter()
        try:
            im = api.decode(path)
            outcome, message = "decoded", f"{im.width}x{im.height} {im.mode}"
        except AecError as e:
            outcome, message = type(e).__name__, str(e)
        except Exception as e:  # noqa: BLE001 -- reported to the test, which fails on it
            outcome, message = f"BUG {type(e).__name__}", str(e)
        print(json.dumps({"file": path.name, "outcome": outcome, "message": message,
                          "seconds": round(time.perf_counter() - t0, 3)}), flush=True)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "latents":
        latents(Path(args[0]), int(args[1]), [Path(a) for a in args[2:]])
    else:
        decode([Path(a) for a in args])
