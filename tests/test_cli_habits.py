"""What users of cwebp, cjxl and avifenc type, and the sharp edges of a first day (issue 20),
driven through the real command in a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image


def test_dash_q_is_the_quality_as_in_cwebp_and_cjxl(cli, tmp_path, photo_png):
    from codec.config import NUM_LEVELS

    r = cli("encode", photo_png, "-o", tmp_path / "out.aec", "-q", "80")
    assert r.returncode == 1 and f"quality must be a number from 1 to {NUM_LEVELS}, got 80.0".encode() in r.stderr, r.stderr
    assert not (tmp_path / "out.aec").exists()
    r = cli("encode", photo_png, "-o", tmp_path / "out.aec", "-q", "2")
    assert r.returncode == 0 and b"quality 2" in r.stderr, r.stderr
    assert (tmp_path / "out.aec").is_file()
    r = cli("encode", photo_png, "-o", tmp_path / "quiet.aec", "--quiet")
    assert r.returncode == 0 and r.stderr == b""


def test_an_output_ending_in_a_slash_is_a_folder_even_for_one_input(cli, tmp_path, photo_png):
    r = cli("encode", photo_png, "-o", f"{tmp_path / 'coded'}/")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "coded").is_dir() and (tmp_path / "coded" / "astronaut.aec").is_file()
    r = cli("decode", tmp_path / "coded" / "astronaut.aec", "-o", f"{tmp_path / 'decoded'}/")
    assert r.returncode == 0 and (tmp_path / "decoded" / "astronaut.png").is_file(), r.stderr


def test_several_inputs_and_a_file_name_are_refused(cli, tmp_path, photo_png):
    other = tmp_path / "other.png"
    Image.open(photo_png).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
    r = cli("encode", photo_png, other, "-o", tmp_path / "two.aec")
    assert r.returncode == 1 and b"looks like a file name, but there are 2 inputs" in r.stderr, r.stderr
    assert not (tmp_path / "two.aec").exists()
    assert cli("encode", photo_png, other, "-o", tmp_path / "coded").returncode == 0  # no suffix: a folder
    a, b = tmp_path / "coded" / "astronaut.aec", tmp_path / "coded" / "other.aec"
    r = cli("decode", a, b, "-o", tmp_path / "new.png")
    assert r.returncode == 1 and b"looks like a file name" in r.stderr and not (tmp_path / "new.png").exists()


def test_a_positional_output_as_cjxl_and_avifenc_take_it(cli, tmp_path, photo_png):
    r = cli("encode", photo_png, tmp_path / "out.aec")
    assert r.returncode == 0 and (tmp_path / "out.aec").is_file(), r.stderr
    assert not (tmp_path / "astronaut.aec").exists()
    r = cli("decode", tmp_path / "out.aec", tmp_path / "back.png")
    assert r.returncode == 0 and Image.open(tmp_path / "back.png").size == Image.open(photo_png).size


def test_an_existing_output_is_refused_before_any_work_and_never_the_input(cli, tmp_path, photo_png):
    other = tmp_path / "other.png"
    Image.open(photo_png).save(other)
    (tmp_path / "coded").mkdir()
    taken = tmp_path / "coded" / "other.aec"
    taken.write_bytes(b"keep me")
    r = cli("encode", photo_png, other, "-o", tmp_path / "coded")
    assert r.returncode == 1 and f"{taken} exists (use --force to overwrite)".encode() in r.stderr
    assert taken.read_bytes() == b"keep me" and not (tmp_path / "coded" / "astronaut.aec").exists()
    before = photo_png.read_bytes()
    r = cli("encode", photo_png, "-o", photo_png, "-f")
    assert r.returncode == 1 and b"is the input itself" in r.stderr and photo_png.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_named_not_the_temporary_file(cli, tmp_path, photo_png):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        r = cli("encode", photo_png, "-o", locked / "x.aec")
    finally:
        locked.chmod(0o700)
    assert r.returncode == 1 and f"{locked / 'x.aec'}: Permission denied".encode() in r.stderr, r.stderr
    assert b".part" not in r.stderr


def test_a_missing_folder_that_cannot_be_made_is_named(cli, tmp_path, photo_png):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    r = cli("encode", photo_png, "-o", blocker / "sub" / "x.aec")
    assert r.returncode == 1 and f"{blocker / 'sub' / 'x.aec'}:".encode() in r.stderr, r.stderr
    assert b".part" not in r.stderr and b"Traceback" not in r.stderr


def test_binary_output_is_not_written_to_a_terminal(tmp_path, photo_png):
    """stdout is a real pseudo-terminal here, as when a user forgets the redirection."""
    import pty
    import subprocess
    import sys

    main, secondary = pty.openpty()
    script = Path(sys.executable).parent / "aecodec"
    argv0 = [str(script)] if script.exists() else [sys.executable, "-m", "codec"]
    r = subprocess.run([*argv0, "encode", str(photo_png), "-o", "-"], stdout=secondary, stderr=subprocess.PIPE,
                       timeout=120)
    os.close(secondary)
    os.close(main)
    assert r.returncode == 1 and b"refusing to write binary data to a terminal" in r.stderr, r.stderr


def test_quality_true_is_not_quality_one(photo_png):
    import codec
    from codec.config import NUM_LEVELS

    with pytest.raises(codec.AecError, match=f"quality must be a number from 1 to {NUM_LEVELS}, got True"):
        codec.encode(photo_png, quality=True)


def test_the_error_classes_are_reachable_from_the_package():
    import codec
    from codec import errors

    for name in ("AecError", "FormatError", "ImageError", "UnsupportedError", "WeightsError"):
        assert getattr(codec, name) is getattr(errors, name)
    with pytest.raises(codec.FormatError):
        codec.decode(b"AEC1" + bytes(60))


def test_bytes_like_and_file_objects_are_read(photo_png):
    import io

    import codec

    data = photo_png.read_bytes()
    files = [codec.encode(src, quality=1) for src in (data, bytearray(data), memoryview(data), io.BytesIO(data))]
    assert len(set(files)) == 1
    with photo_png.open("rb") as f:
        assert codec.encode(f, quality=1) == files[0]
    for kind in (bytes, bytearray, memoryview, io.BytesIO):
        assert codec.decode(kind(files[0])).size == Image.open(photo_png).size
        assert codec.info(kind(files[0])).header.quality == 1
    with pytest.raises(codec.AecError, match="opened in binary mode"), photo_png.open("r", encoding="latin-1") as f:
        codec.encode(f)
    with pytest.raises(codec.AecError, match="expected a path, bytes or a binary file object, got int"):
        codec.decode(3)


def test_export_keeps_existing_weights_without_force_and_writes_readable_files(cli, tmp_path, astronaut):
    import stat

    Image.fromarray(astronaut).save(tmp_path / "a.png")
    run = tmp_path / "run"
    r = cli("train", tmp_path, "--out", run, "--steps", "1", "--channels", "8", "--latent-channels", "8",
            "--crop", "64", "--batch", "1", "--optimizer", "adam", "--quiet")
    assert r.returncode == 0, r.stderr[-1500:]
    before = (run / "export" / "model.safetensors").read_bytes()
    r = cli("export", run, "-o", run / "export")
    assert r.returncode == 1 and b"already holds weights (use --force to overwrite)" in r.stderr
    assert (run / "export" / "model.safetensors").read_bytes() == before
    assert cli("export", run, "-o", run / "export", "--force").returncode == 0
    mode = stat.S_IMODE((run / "export" / "model.safetensors").stat().st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH, oct(mode)


def test_decoding_to_jpeg_or_webp_says_what_it_loses_and_can_choose(cli, tmp_path, photo_png):
    import io

    import numpy as np

    from codec.image import psnr

    aec = tmp_path / "x.aec"
    assert cli("encode", photo_png, "-o", aec, "-q", "8").returncode == 0
    png = tmp_path / "x.png"
    assert cli("decode", aec, "-o", png, "--realism", "0").returncode == 0
    ref = np.asarray(Image.open(png).convert("RGB"))
    r = cli("decode", aec, "-o", tmp_path / "x.webp", "--realism", "0")
    assert r.returncode == 0 and b"as WEBP, lossless" in r.stderr, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.webp").convert("RGB")), ref)
    r = cli("decode", aec, "-o", tmp_path / "x.jpg", "--realism", "0")
    assert r.returncode == 0 and b"as JPEG quality 95, lossy" in r.stderr
    assert psnr(np.asarray(Image.open(tmp_path / "x.jpg")), ref) > 38
    r = cli("decode", aec, "-o", tmp_path / "low.jpg", "--output-quality", "30", "--realism", "0")
    assert r.returncode == 0 and b"as JPEG quality 30, lossy" in r.stderr
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "x.jpg").stat().st_size
    r = cli("decode", aec, "-o", tmp_path / "y.png", "--output-quality", "30")
    assert r.returncode == 1 and b"--output-quality applies to JPEG and WebP outputs, not PNG" in r.stderr
    r = cli("decode", aec, "-o", "-", "--format", "webp", "--realism", "0")
    assert r.returncode == 0 and Image.open(io.BytesIO(r.stdout)).format == "WEBP"


def test_decode_verbose_names_the_decoder(cli, tmp_path, photo_png):
    aec = tmp_path / "x.aec"
    assert cli("encode", photo_png, "-o", aec).returncode == 0
    r = cli("decode", aec, "-o", tmp_path / "a.png", "-v")
    assert r.returncode == 0 and b"GAN decoder (realism 1, the default)" in r.stderr, r.stderr
    r = cli("decode", aec, "-o", tmp_path / "b.png", "-v", "--realism", "0")
    assert r.returncode == 0 and b"fidelity decoder (realism 0)" in r.stderr, r.stderr


def test_metadata_can_be_dropped_gps_included(cli, tmp_path, astronaut):
    from PIL import ImageCms

    exif = Image.Exif()
    exif[0x010F] = "aecodec camera"
    exif[0x8825] = {2: (48.0, 51.0, 30.0), 1: "N"}  # GPS IFD: latitude
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "gps.jpg"
    Image.fromarray(astronaut[:128, :128]).save(src, quality=95, exif=exif.tobytes(), icc_profile=icc)
    kept = {}
    for choice in ("all", "exif", "icc", "none"):
        aec = tmp_path / f"{choice}.aec"
        r = cli("encode", src, "-o", aec, "--metadata", choice, "-q", "1")
        assert r.returncode == 0, r.stderr
        r = cli("info", aec, "--json")
        info = __import__("json").loads(r.stdout)
        kept[choice] = (info["exif"], info["icc_profile"])
    assert kept == {"all": (True, True), "exif": (True, False), "icc": (False, True), "none": (False, False)}
    assert cli("decode", tmp_path / "all.aec", "-o", tmp_path / "all.png").returncode == 0
    assert Image.open(tmp_path / "all.png").getexif().get_ifd(0x8825).get(1) == "N"


def test_an_unreadable_exif_block_can_be_dropped(cli, tmp_path, astronaut):
    src = tmp_path / "bad-exif.jpg"
    Image.fromarray(astronaut[:64, :64]).save(src, exif=b"Exif\x00\x00MM\x005\x00\x00\x00\x08")
    r = cli("encode", src, "-o", tmp_path / "x.aec")
    assert r.returncode == 1 and b"drop it with --metadata icc or none" in r.stderr, r.stderr
    r = cli("encode", src, "-o", tmp_path / "x.aec", "--metadata", "none")
    assert r.returncode == 0 and (tmp_path / "x.aec").exists(), r.stderr


def test_threads_are_set_for_the_model(cli, photo_png, tmp_path):
    r = cli("encode", str(photo_png), "-o", str(tmp_path / "t.aec"), "--threads", "1", "-v")
    assert r.returncode == 0 and "; 1 threads" in r.stderr.decode()
    r = cli("decode", str(tmp_path / "t.aec"), "-o", str(tmp_path / "t.png"), "--threads", "2")
    assert r.returncode == 0 and (tmp_path / "t.png").exists()


def test_a_folder_stands_for_its_images_and_r_for_its_subfolders(cli, tmp_path, astronaut):
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    Image.fromarray(astronaut[:64, :96]).save(photos / "a.png")
    Image.fromarray(astronaut[64:128, :96]).save(photos / "trip" / "a.jpg")
    (photos / "notes.txt").write_text("not an image")
    r = cli("encode", str(photos), "-o", str(tmp_path / "flat"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.relative_to(tmp_path / "flat").as_posix() for p in (tmp_path / "flat").rglob("*.aec")) == ["a.aec"]
    r = cli("encode", str(photos), "-r", "-o", str(tmp_path / "coded"))
    assert r.returncode == 0, r.stderr
    coded = sorted(p.relative_to(tmp_path / "coded").as_posix() for p in (tmp_path / "coded").rglob("*.aec"))
    assert coded == ["a.aec", "trip/a.aec"]  # the same name in two folders: two outputs
    r = cli("decode", str(tmp_path / "coded"), "-r", "-o", str(tmp_path / "back"))
    assert r.returncode == 0 and (tmp_path / "back" / "trip" / "a.png").exists(), r.stderr
    r = cli("encode", str(photos / "trip"), "-o", str(tmp_path / "one.aec"))
    assert r.returncode == 1 and b"looks like a file name" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("decode", str(empty))
    assert r.returncode == 1 and b"is a directory with none of the files this command reads (-r looks" in r.stderr


def test_only_the_first_files_time_includes_starting_up(cli, tmp_path, astronaut):
    for name in ("a", "b"):
        Image.fromarray(astronaut[:64, :64]).save(tmp_path / f"{name}.png")
    r = cli("encode", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "out/"))
    lines = [line for line in r.stderr.decode().splitlines() if " -> " in line]
    assert r.returncode == 0 and len(lines) == 2, r.stderr
    assert "(with starting up: torch and the model loaded)" in lines[0] and "starting up" not in lines[1]
