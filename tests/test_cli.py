"""The ``aecodec`` command driven as a user drives it: a subprocess, real files, exit codes."""

from __future__ import annotations

import io
import json
import os
import re

import pytest
from PIL import Image


def one_error_line(r) -> str:
    err = r.stderr.decode()
    assert r.returncode != 0
    assert "Traceback" not in err, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_encode_info_decode(cli, tmp_path, photo_png):
    aec, out = tmp_path / "a.aec", tmp_path / "a.out.png"
    r = cli("encode", photo_png, "-o", aec, "--quality", "5")
    assert r.returncode == 0, r.stderr
    line = r.stderr.decode()
    reported_bytes = int(re.search(r"(\d+) bytes", line).group(1))
    reported_bpp = float(re.search(r"([\d.]+) bpp", line).group(1))
    assert reported_bytes == aec.stat().st_size
    assert reported_bpp == pytest.approx(8 * aec.stat().st_size / (256 * 192), abs=1e-3)

    r = cli("info", "--json", aec)
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)
    assert (meta["width"], meta["height"], meta["quality"], meta["bytes"]) == (256, 192, 5, aec.stat().st_size)

    r = cli("decode", aec, "-o", out)
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (256, 192)
    assert not list(tmp_path.glob(".*.part"))
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # the permissions any other tool gives


def test_stdin_and_stdout(cli, photo_png):
    enc = cli("encode", "-", "-o", "-", "--quality", "3", stdin=photo_png.read_bytes())
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout[:4] == b"\x89AEC"
    dec = cli("decode", "-", "-o", "-", stdin=enc.stdout)
    assert dec.returncode == 0, dec.stderr
    assert Image.open(io.BytesIO(dec.stdout)).size == (256, 192)


def test_batch_into_folder_keeps_going_past_a_bad_file(cli, tmp_path, astronaut):
    for i in range(2):
        Image.fromarray(astronaut[i * 64 : i * 64 + 96, :128]).save(tmp_path / f"img{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    r = cli("encode", tmp_path / "img0.png", tmp_path / "broken.png", tmp_path / "img1.png", "-o", tmp_path / "out")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "broken.png" in err and "2 of 3 done, 1 failed" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.aec", "img1.aec"]
    r = cli("decode", *sorted((tmp_path / "out").glob("*.aec")), "-o", tmp_path / "dec")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "dec").iterdir()) == ["img0.png", "img1.png"]


def test_no_overwrite_without_force(cli, tmp_path, photo_png):
    aec = tmp_path / "a.aec"
    aec.write_bytes(b"precious")
    assert "exists" in one_error_line(cli("encode", photo_png, "-o", aec))
    assert aec.read_bytes() == b"precious"
    assert cli("encode", photo_png, "-o", aec, "--force").returncode == 0
    assert aec.read_bytes()[:4] == b"\x89AEC"


def test_default_output_name(cli, tmp_path, photo_png):
    assert cli("encode", photo_png).returncode == 0
    assert (photo_png.with_suffix(".aec")).exists()


@pytest.fixture(scope="module")
def bad_inputs(cli, tmp_path_factory, astronaut):
    """A folder of inputs that must each fail: junk, empty, CMYK, a truncated .aec, and a good one."""
    d = tmp_path_factory.mktemp("bad")
    (d / "junk.txt").write_text("hello\n" * 100)
    (d / "empty.png").write_bytes(b"")
    Image.new("CMYK", (32, 32)).save(d / "cmyk.jpg")
    Image.fromarray(astronaut[:64, :64]).save(d / "good.png")
    assert cli("encode", d / "good.png", "-o", d / "good.aec").returncode == 0
    data = (d / "good.aec").read_bytes()
    (d / "truncated.aec").write_bytes(data[: len(data) // 2])
    return d


@pytest.mark.parametrize(
    "args,match",
    [
        (["encode", "missing.png", "-o", "x.aec"], "No such file"),
        (["encode", "junk.txt", "-o", "x.aec"], "not an image"),
        (["encode", "empty.png", "-o", "x.aec"], "empty"),
        (["decode", "junk.txt", "-o", "x.png"], "not an .aec file"),
        (["decode", "truncated.aec", "-o", "x.png"], "truncated|corrupt|checksum"),
        (["decode", "good.aec", "-o", "x.xyz"], "unknown output suffix"),
        (["info", "truncated.aec"], "truncated|corrupt|checksum"),
        (["encode", "cmyk.jpg", "-o", "x.aec"], "CMYK"),
    ],
)
def test_errors_are_one_line_with_no_partial_output(cli, bad_inputs, args, match):
    line = one_error_line(cli(*args, cwd=bad_inputs))
    assert line.startswith("aecodec: error:") and re.search(match, line), line
    assert not (bad_inputs / "x.aec").exists() and not (bad_inputs / "x.png").exists()
    assert not list(bad_inputs.glob(".*.part"))


def test_usage_errors_exit_2(cli, photo_png):
    assert cli("encode", photo_png, "--quality", "0").returncode == 2
    assert cli("frobnicate").returncode == 2


def test_version_and_help(cli):
    r = cli("--version")
    assert r.returncode == 0 and b"aecodec" in r.stdout
    r = cli("--help")
    assert r.returncode == 0 and b"encode" in r.stdout and b"decode" in r.stdout


def test_quiet_prints_nothing_on_success(cli, tmp_path, photo_png):
    r = cli("encode", photo_png, "-o", tmp_path / "q.aec", "--quiet")
    assert r.returncode == 0 and r.stderr == b"" and r.stdout == b""


def test_info_imports_neither_torch_nor_numpy(tmp_path, photo_png, cli):
    """What keeps ``aecodec info`` under 0.5 s (0.57 s with numpy, 0.20 s without, on this
    machine under load)."""
    import subprocess
    import sys

    assert cli("encode", photo_png, "-o", tmp_path / "a.aec").returncode == 0
    code = ("import sys; from codec.cli import main; "
            "sys.argv = ['aecodec', 'info', sys.argv[1]]\n"
            "try: main()\nexcept SystemExit: pass\n"
            "assert not {'torch', 'numpy'} & set(sys.modules), 'torch or numpy was imported'")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.aec")], capture_output=True)
    assert r.returncode == 0, r.stderr


def test_output_into_an_existing_folder_and_unwritable_output(cli, tmp_path, photo_png):
    folder = tmp_path / "out"
    folder.mkdir()
    assert cli("encode", photo_png, "-o", folder).returncode == 0
    assert (folder / "astronaut.aec").exists()
    (tmp_path / "blocker").write_text("a file, not a folder")
    line = one_error_line(cli("decode", folder / "astronaut.aec", "-o", tmp_path / "blocker" / "y.png"))
    assert line.startswith("aecodec: error:") and "blocker" in line
