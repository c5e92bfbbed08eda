"""The ``aecodec`` command: a thin layer over :mod:`codec.api`.

Every failure the user can cause ends as one line on stderr and exit status 1 (2 for misuse of
the command line); outputs are written to a temporary file and renamed into place, so a failed
or interrupted run never leaves a partial file. Torch is imported only by the commands that code.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator

import click

from codec import __version__
from codec.config import DEFAULT_QUALITY, NUM_LEVELS, ModelConfig, lower_lambdas
from codec.errors import AecError, AecWarning
from codec.sources import IMAGE_SUFFIXES, as_bytes

STDIO = "-"
DECODE_FORMATS = {".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
                  ".jpg": "JPEG", ".jpeg": "JPEG", ".ppm": "PPM"}


class Failure(Exception):
    """A failure already phrased for the user."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that temporary outputs are removed on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def _say(ctx: click.Context, msg: str, level: int = 0) -> None:
    if ctx.obj["verbosity"] >= level:
        click.echo(msg, err=True)


def _threads(f: Callable) -> Callable:
    """``--threads``: torch's threads for coding (its default is the machine's cores)."""
    def set_threads(_ctx: click.Context, _param: click.Parameter, n: int | None) -> int | None:
        if n is not None:
            import torch

            torch.set_num_threads(n)
        return n

    return click.option("--threads", type=click.IntRange(1), callback=set_threads, expose_value=False,
                        help="Threads for the model [default: the machine's cores].")(f)


def _verbosity(f: Callable) -> Callable:
    # No -q: cwebp, cjxl and avifenc users type -q for the quality (encode's -q is --quality).
    f = click.option("--quiet", "verbosity", flag_value=-1, help="Print errors only.")(f)
    f = click.option("-v", "--verbose", "verbosity", flag_value=1, help="Print more detail.")(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="aecodec")
def main() -> None:
    """aecodec: a learned image codec. Encode images to .aec files and decode them back."""
    # Library deprecation notices (torch.jit in compressai) are not the user's business.
    warnings.simplefilter("ignore", FutureWarning)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)


@contextlib.contextmanager
def atomic_output(path: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only when the body succeeds."""
    if path.exists() and not force:
        raise Failure(f"{path} exists (use --force to overwrite)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as e:  # name the output, not the hidden temporary file
        raise Failure(f"{path}: {e.strerror or e}") from None
    try:
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _expand(inputs: tuple[str, ...], suffixes: set[str] | frozenset[str], recursive: bool) -> dict[str, Path]:
    """Every input file, with the path its output takes under an output folder: a folder given
    as input stands for the files in it with one of ``suffixes`` (in its subfolders too with
    ``recursive``, their outputs in the same subfolders)."""
    files: dict[str, Path] = {}
    for src in inputs:
        folder = Path(src)
        if src == STDIO or not folder.is_dir():
            files[src] = Path(Path(src).name)
            continue
        found = sorted(p for p in (folder.rglob("*") if recursive else folder.iterdir())
                       if p.suffix.lower() in suffixes and p.is_file())
        if not found:  # reported with the other inputs' outcomes, by _read_input
            files[src] = Path(folder.name)
        files.update((str(p), p.relative_to(folder)) for p in found)
    return files


def _outputs(inputs: tuple[str, ...], output: str | None, suffix: str, output_suffixes: set[str],
             force: bool, input_suffixes: set[str] | frozenset[str], recursive: bool = False) -> list[tuple[str, str]]:
    """Pair every input with its output: ``-o`` is a file for one input, a folder for several, for
    a folder given as input, or when it ends in a slash. ``in out`` without ``-o``, ``out`` ending
    in one of ``output_suffixes``, is read as cjxl and avifenc read it. Every pair is checked
    before any work is done: an existing output without ``force``, an output that is its own input."""
    if output is None and len(inputs) == 2 and Path(inputs[1]).suffix.lower() in output_suffixes \
            and not Path(inputs[1]).exists():
        inputs, output = inputs[:1], inputs[1]
    folders_given = any(src != STDIO and Path(src).is_dir() for src in inputs)
    relative = _expand(inputs, input_suffixes, recursive)
    inputs = tuple(relative)
    explicit_folder = output is not None and output != STDIO and (output.endswith(("/", os.sep)) or Path(output).is_dir())
    folder_named = explicit_folder or folders_given
    if len(inputs) == 1 and not folder_named:
        src = inputs[0]
        if output is None:
            if src == STDIO:
                raise Failure("reading from stdin needs -o (a file, or - for stdout)")
            output = str(Path(src).with_suffix(suffix))
        pairs = [(src, output)]
    else:
        if STDIO in inputs or output == STDIO:
            raise Failure("stdin and stdout work with a single input only")
        folder = Path(output) if output else None
        if folder is not None and folder.exists() and not folder.is_dir():
            raise Failure(f"-o {folder} must be a folder when there are several inputs")
        if folder is not None and not explicit_folder and folder.suffix:
            given = "a folder is an input" if folders_given else f"there are {len(inputs)} inputs"
            raise Failure(f"-o {folder} looks like a file name, but {given}: give a folder (write {folder}/ to create one)")
        pairs = [(s, str(folder / relative[s].with_suffix(suffix) if folder else Path(s).with_suffix(suffix)))
                 for s in inputs]
        targets = [t for _, t in pairs]
        if len(set(targets)) != len(targets):
            raise Failure("several inputs would write the same output file")
    for src, dst in pairs:
        if dst == STDIO:
            if sys.stdout.isatty():
                raise Failure("refusing to write binary data to a terminal: redirect stdout, or give -o a file")
            continue
        if src != STDIO and Path(dst).exists() and Path(src).exists() and Path(dst).samefile(src):
            raise Failure(f"{dst} is the input itself: write the output elsewhere")
        if Path(dst).exists() and not force:
            raise Failure(f"{dst} exists (use --force to overwrite)")
    return pairs


def _read_input(src: str) -> bytes:
    if src != STDIO and Path(src).is_dir():
        raise Failure(f"{src}: is a directory with none of the files this command reads "
                      "(-r looks in its subfolders too)")
    return sys.stdin.buffer.read() if src == STDIO else as_bytes(src)[0]


def _write_output(dst: str, data: bytes, force: bool) -> None:
    if dst == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_output(Path(dst), force) as tmp:
        tmp.write_bytes(data)


_started = False


def _seconds(t0: float) -> str:
    """A file's time; the first file of a process also pays for importing torch and loading the
    model (seconds, README "Speed and memory"), and says so."""
    global _started
    first, _started = not _started, True
    return f"{time.perf_counter() - t0:.2f} s" + (" (with starting up: torch and the model loaded)" if first else "")


def _describe(e: Exception, src: str, dst: str) -> str:
    """One line naming the input (and the file an OSError is about)."""
    text = f"{e.filename or dst}: {e.strerror or e}" if isinstance(e, OSError) else str(e)
    return text if text.startswith(src) else f"{src}: {text}"


def _run_batch(ctx: click.Context, pairs: list[tuple[str, str]], job: Callable[[str, str], str]) -> None:
    """Run ``job`` on every pair; one failure does not stop the others, but sets the exit status.
    ``job`` returns the lines to print (notes, the result, detail with -v), printed above the bar."""
    failures = 0
    above_bar = contextlib.nullcontext
    if len(pairs) > 1 and ctx.obj["verbosity"] >= 0 and sys.stderr.isatty():  # no bar in logs
        from tqdm import tqdm

        pairs = tqdm(pairs, unit="image", file=sys.stderr, leave=False)
        # Lines are printed above the bar, which is redrawn below them.
        above_bar = functools.partial(tqdm.external_write_mode, file=sys.stderr)
    for src, dst in pairs:
        try:
            line = job(src, dst)
            with above_bar():
                _say(ctx, line)
        except (AecError, Failure, OSError) as e:
            failures += 1
            with above_bar():
                click.echo(f"aecodec: error: {_describe(e, src, dst)}", err=True)
    if len(pairs) > 1:
        _say(ctx, f"{len(pairs) - failures} of {len(pairs)} done, {failures} failed")
    if failures:
        ctx.exit(1)


def _guard(f: Callable) -> Callable:
    """Turn every exception into a one-line message and a non-zero exit status."""

    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        ctx.obj = {"verbosity": kwargs.get("verbosity") or 0}
        try:
            return f(ctx, *args, **kwargs)
        except (AecError, Failure) as e:
            click.echo(f"aecodec: error: {e}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt as e:
            click.echo("aecodec: interrupted", err=True)
            ctx.exit(128 + getattr(e, "signum", signal.SIGINT))
        except (click.exceptions.Exit, click.ClickException):
            raise
        except ImportError as e:  # an optional package imported where no require() names it
            from codec.extras import EXTRA_OF, missing

            if (e.name or "").split(".")[0] not in EXTRA_OF:
                raise
            click.echo(f"aecodec: error: {missing(e, f'aecodec {ctx.info_name}')}", err=True)
            ctx.exit(1)
        except Exception as e:  # a bug of ours: still one line, the traceback only with -v
            if ctx.obj["verbosity"] > 0:
                raise
            click.echo(f"aecodec: internal error: {type(e).__name__}: {e} (run with -v for details)", err=True)
            ctx.exit(1)

    wrapper.__name__, wrapper.__doc__ = f.__name__, f.__doc__
    return wrapper


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file, - for stdout, or a folder for several inputs.")
@click.option("-q", "--quality", type=click.FloatRange(1),
              help=f"1 (smallest) to the weights' number of levels (best; {NUM_LEVELS} for the shipped weights); "
                   "between two levels in hundredths, e.g. 4.25 "
                   f"[default: {DEFAULT_QUALITY}].")
@click.option("--target-size", callback=lambda _c, _p, v: _byte_count(v),
              help="Instead of -q: the highest quality whose file is at most this size (bytes: 50000, 50k, 1.5M).")
@click.option("--target-bpp", type=click.FloatRange(0, min_open=True),
              help="Instead of -q: the highest quality whose file is at most this many bits per pixel.")
@click.option("--target-psnr", type=click.FloatRange(0, min_open=True),
              help="Instead of -q: the lowest quality whose fidelity decoding reaches this PSNR (dB, RGB).")
@click.option("--metadata", type=click.Choice(["all", "exif", "icc", "none"]), default="all", show_default=True,
              help="What to keep of EXIF (GPS position included) and the ICC profile; the orientation is always applied.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("-r", "--recursive", is_flag=True, help="A folder given as input: its subfolders' images too.")
@click.option("--weights", type=click.Path(exists=True, file_okay=False), help="Weights folder (default: shipped).")
@_threads
@_verbosity
@_guard
def encode(ctx, inputs, output, quality, target_size, target_bpp, target_psnr, metadata, force, recursive, weights,
           verbosity) -> None:
    """Compress images (PNG, JPEG, WebP, ...) to .aec files."""
    from codec import api

    targets = {"size": target_size, "bpp": target_bpp, "psnr": target_psnr}
    given = [f"--target-{k}" for k, v in targets.items() if v is not None] + (["-q"] if quality is not None else [])
    if len(given) > 1:
        raise Failure(f"{' and '.join(given)} exclude each other: give one")

    def job(src: str, dst: str) -> str:
        t0 = time.perf_counter()
        data = _read_input(src)
        searched = ""
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", AecWarning)
            if quality is None and any(v is not None for v in targets.values()):
                t = api.encode_to_target(data, **targets, weights_dir=weights, metadata=metadata)
                out = t.data
                (name, value), = ((k, v) for k, v in targets.items() if v is not None)
                end = "the best" if name == "psnr" else "the smallest"
                searched = (f" (target {name} {value:g} {'met' if t.met else f'not reachable: {end} quality'}, "
                            f"{t.encodes} encodes)")
            else:
                out = api.encode(data, quality=DEFAULT_QUALITY if quality is None else quality, weights_dir=weights,
                                 metadata=metadata)
        _write_output(dst, out, force)
        meta = api.info(out)
        h = meta.header
        lines = [f"aecodec: note: {src}: {n.message}" for n in notes if issubclass(n.category, AecWarning)]
        lines.append(f"{src} -> {dst}: {h.width}x{h.height} {h.mode}, quality {meta.quality:g}{searched}, "
                     f"{meta.file_size} bytes, {meta.bpp:.3f} bpp, {_seconds(t0)}")
        if ctx.obj["verbosity"] > 0:
            import torch  # loaded by the encoder already

            lines.append(f"  latent {meta.latent_bytes} bytes; model {h.model_name}, weights {h.weights_hash.hex()}; "
                         f"{torch.get_num_threads()} threads")
        return "\n".join(lines)

    _run_batch(ctx, _outputs(inputs, output, ".aec", {".aec"}, force, IMAGE_SUFFIXES, recursive), job)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output image (format from its suffix, PNG by default), - for stdout (PNG), or a folder.")
@click.option("--format", "out_format", type=click.Choice(sorted({s.lstrip(".") for s in DECODE_FORMATS})),
              help="Output format, whatever the suffix (e.g. with -o -).")
@click.option("--output-quality", type=click.IntRange(1, 100),
              help="JPEG or WebP quality of the output [default: WebP lossless, JPEG 95 4:4:4].")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("-r", "--recursive", is_flag=True, help="A folder given as input: its subfolders' .aec files too.")
@click.option("--weights", type=click.Path(exists=True, file_okay=False), help="Weights folder (default: shipped).")
@click.option("--realism", type=click.FloatRange(0, 1),
              help="0: fidelity (MSE) decoder; 1: GAN decoder, sharp (the default when the weights have one); between: a blend.")
@_threads
@_verbosity
@_guard
def decode(ctx, inputs, output, out_format, output_quality, force, recursive, weights, realism, verbosity) -> None:
    """Decompress .aec files to images."""
    import io

    from codec import api, image

    def job(src: str, dst: str) -> str:
        t0 = time.perf_counter()
        if out_format:
            fmt = DECODE_FORMATS[f".{out_format}"]
        else:
            fmt = "PNG" if dst == STDIO else DECODE_FORMATS.get(Path(dst).suffix.lower())
        if fmt is None:
            raise Failure(f"{dst}: unknown output suffix (use one of {', '.join(sorted(DECODE_FORMATS))}, or --format)")
        if output_quality is not None and fmt not in image.LOSSY_FORMATS:
            raise Failure(f"--output-quality applies to JPEG and WebP outputs, not {fmt}")
        im = api.decode(_read_input(src), weights_dir=weights, realism=realism)
        chosen = realism if realism is not None else float(api.load_model(weights).has_gan_decoder)
        buf = io.BytesIO()
        image.save(im, buf, fmt, output_quality)
        _write_output(dst, buf.getvalue(), force)
        written = fmt if fmt not in image.LOSSY_FORMATS else (
            f"{fmt}, lossless" if fmt == "WEBP" and output_quality is None else
            f"{fmt} quality {output_quality or 95}, lossy")
        line = f"{src} -> {dst}: {im.width}x{im.height} {im.mode} as {written}, {_seconds(t0)}"
        if ctx.obj["verbosity"] > 0:
            decoder = "fidelity decoder" if chosen == 0 else "GAN decoder" if chosen == 1 else "blend"
            line += f"\n  {src}: {decoder} (realism {chosen:g}{'' if realism is not None else ', the default'})"
        return line

    _run_batch(ctx, _outputs(inputs, output, ".png", set(DECODE_FORMATS), force, {".aec"}, recursive), job)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
@_verbosity
@_guard
def info(ctx, inputs, as_json, verbosity) -> None:
    """Show the header of .aec files (no model is loaded)."""
    from codec import api

    def job(src: str, _: str) -> str:
        meta = api.info(_read_input(src))
        h = meta.header
        fields = {"file": src, "width": h.width, "height": h.height, "mode": h.mode, "quality": meta.quality,
                  "model": h.model_name, "weights": h.weights_hash.hex(), "bytes": meta.file_size,
                  "bpp": round(meta.bpp, 4), "latent_bytes": meta.latent_bytes,
                  "icc_profile": meta.has_icc_profile, "exif": meta.has_exif, "tile_size": meta.tile_size,
                  "tiles": "x".join(map(str, meta.tile_grid)) if meta.tile_grid else None}
        text = json.dumps(fields) if as_json else "\n".join(f"{k:13}{v}" for k, v in fields.items())
        click.echo(text)
        return ""

    ctx.obj["verbosity"] = -1  # the report goes to stdout; only errors to stderr
    _run_batch(ctx, [(s, "") for s in inputs], job)


def _byte_count(text: str | None) -> int | None:
    """``50000``, ``50k`` (thousands) or ``1.5M`` (millions) as a number of bytes."""
    if text is None:
        return None
    scale = {"k": 1000, "m": 1000_000}.get(text[-1:].lower(), 1)
    try:
        n = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size in bytes (50000, 50k, 1.5M)") from None
    if not n >= 1:
        raise click.BadParameter(f"{text!r}: a size is at least 1 byte")
    return int(n)


def _level_weights(_ctx: click.Context, _param: click.Parameter, text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(w) for w in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of numbers") from None


def _adversarial_weights(_ctx: click.Context, _param: click.Parameter,
                         text: str | None) -> tuple[float, float | None] | None:
    """One weight for every level, or LOWEST,BEST for one that runs geometrically between them."""
    if text is None:
        return None
    weights = _level_weights(_ctx, _param, text)
    if len(weights) > 2 or any(w < 0 for w in weights):
        raise click.BadParameter(f"{text!r} is not one weight >= 0, or two (lowest level, best level)")
    if len(weights) == 2 and 0 in weights:
        raise click.BadParameter(f"{text!r}: two weights must both be above 0 (they run geometrically between)")
    return weights[0], weights[1] if len(weights) == 2 else None


@main.command()
@click.argument("train_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--stage", type=click.Choice(["rd", "gan", "joint"]), default="rd", show_default=True,
              help="rd: the whole codec, rate-distortion; gan: the GAN decoder on top of --init, bitstream frozen; "
                   "joint: every part of --init's codec and its GAN decoder together (new tables, a new bitstream).")
@click.option("--val", "val_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Held-out folder for validation (repeat for several; the first logs as val_*, the others as val_<folder>_*).")
@click.option("--kodak", "kodak_dir", type=click.Path(exists=True, file_okay=False),
              help="rd: folder whose real coded bytes and PSNR are logged every 30 minutes (evaluation only).")
@click.option("--out", "out_dir", help="Run folder: log, checkpoint, export/ [default: runs/STAGE].")
@click.option("--minutes", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True, help="Wall-time budget; the schedule decays within it.")
@click.option("--steps", "max_steps", type=click.IntRange(1), default=1_000_000, show_default=True, help="Step budget (whichever ends first).")
@click.option("--channels", type=click.IntRange(1), help=f"rd: N, width of the transforms [default: {ModelConfig.channels}; --init's weights set their own].")
@click.option("--latent-channels", type=click.IntRange(1),
              help=f"rd: M, channels of the latent [default: {ModelConfig.latent_channels}]; with --init, widens its latent.")
@click.option("--analysis-channels", type=click.IntRange(1),
              help="rd: width of the encoder [default: --channels]; with --init, widens its encoder.")
@click.option("--synthesis-channels", type=click.IntRange(1),
              help="rd: width of the decoders [default: --channels]; with --init, widens its decoders.")
@click.option("--crop", type=click.IntRange(1), help="Crop side [default: 256 for rd, 128 for gan].")
@click.option("--batch", type=click.IntRange(1), default=4, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="Peak learning rate [default: 4e-4 for rd, 1e-4 for gan, 2e-5 for joint].")
@click.option("--checkerboard", is_flag=True,
              help="rd: add a checkerboard context to the entropy model (also to --init's weights).")
@click.option("--lower-levels", type=click.IntRange(1),
              help="rd: add this many quality levels below the lowest (of --init's weights, or of a new model), "
                   "for lower rates; every level's number moves up by as many.")
@click.option("--level-weights", callback=_level_weights, metavar="W1,W2,...",
              help="How often each quality level is drawn, lowest first, e.g. 1,1,1,2,2,2,2,2 [default: uniform].")
@click.option("--contractive-weight", type=click.FloatRange(0), help="rd, joint: weight of ||J_a||_F^2 [default: 0.001].")
@click.option("--optimizer", type=click.Choice(["adam", "soap"]),
              help='rd: soap (the default; needs pytorch-optimizer: pip install "aecodec[train]") or adam.')
@click.option("--adversarial-weight", callback=_adversarial_weights, metavar="W | LOWEST,BEST",
              help="gan, joint: weight of the adversarial loss [default: 0.05]; two, for the lowest level and the "
                   "best, run geometrically across the levels (strong where the decoder must invent).")
@click.option("--restart-decoder", is_flag=True,
              help="gan: start the GAN decoder from --init's fidelity decoder, not from its GAN decoder "
                   "(after stage 1 retrained the fidelity decoder, so that realism blends lie between the two).")
@click.option("--discriminator", "discriminator_from", type=click.Path(exists=True, file_okay=False),
              help="gan, joint: start the discriminator from this earlier gan run's checkpoint, not from scratch.")
@click.option("--threads", type=click.IntRange(1),
              help="Threads of each process [default: the cores this process may use, shared among "
                   "torchrun's processes on the machine].")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto: bf16 autocast where the processor has bf16 matrix units (AMX, or a GPU), else fp32.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initial weights and of the crops.")
@click.option("--init", type=click.Path(exists=True, file_okay=False),
              help="Start from a weights folder (required for gan and joint).")
@click.option("--resume", is_flag=True, help="Continue from the run folder's checkpoint.")
@_verbosity
@_guard
def train(ctx, train_dirs, stage, val_dirs, kodak_dir, out_dir, minutes, max_steps, channels, latent_channels,
          analysis_channels, synthesis_channels, crop,
          batch, lr, checkerboard, lower_levels, level_weights, contractive_weight, optimizer, adversarial_weight, restart_decoder,
          discriminator_from, threads, precision, device, seed, init, resume, verbosity) -> None:
    """Train on folders of images and export the weights (stage rd, then stage gan, optionally
    stage joint). Under torchrun, one run across its processes (README: "Training on several
    processes")."""
    from codec.config import GanConfig, JointConfig, TrainConfig
    from codec.train.distributed import World

    world = World.from_environment()
    threads = threads or world.threads()
    common = {"train_dirs": tuple(train_dirs), "val_dirs": tuple(val_dirs), "out_dir": out_dir or f"runs/{stage}",
              "time_budget_s": minutes * 60, "max_steps": max_steps, "batch": batch, "threads": threads, "seed": seed,
              "precision": precision, "device": device, "level_weights": level_weights or (),
              **({"crop": crop} if crop else {})}
    stage_only = (("--kodak", kodak_dir, "rd"), ("--optimizer", optimizer, "rd"), ("--channels", channels, "rd"),
                  ("--checkerboard", checkerboard or None, "rd"), ("--latent-channels", latent_channels, "rd"),
                  ("--analysis-channels", analysis_channels, "rd"),
                  ("--synthesis-channels", synthesis_channels, "rd"),
                  ("--lower-levels", lower_levels, "rd"),
                  ("--adversarial-weight", adversarial_weight, "gan joint"),
                  ("--discriminator", discriminator_from, "gan joint"), ("--restart-decoder", restart_decoder or None, "gan"),
                  ("--contractive-weight", contractive_weight, "rd joint"))
    if misplaced := [name for name, value, stages in stage_only if value is not None and stage not in stages.split()]:
        raise Failure(f"{', '.join(misplaced)} does not apply to --stage {stage}")
    adversarial = ({"adversarial_weight": adversarial_weight[0], "adversarial_weight_best": adversarial_weight[1]}
                   if adversarial_weight else {})
    try:
        if stage in ("gan", "joint") and not init:
            raise Failure(f"--stage {stage} needs --init, " + ("the weights whose bitstream it keeps" if stage == "gan" else
                                                               "weights with a GAN decoder"))
        if stage == "gan":
            from codec.train.gan import train_gan

            gan_options = {"g_lr": lr, **adversarial, "discriminator_from": discriminator_from,
                           "restart_decoder": restart_decoder or None}
            cfg = GanConfig(**common, **{k: v for k, v in gan_options.items() if v is not None})
            export_dir = train_gan(cfg, Path(init), resume)
        elif stage == "joint":
            from codec.train.joint import train_joint

            joint_options = {"g_lr": lr, **adversarial, "discriminator_from": discriminator_from,
                             "contractive_weight": contractive_weight}
            cfg = JointConfig(**common, **{k: v for k, v in joint_options.items() if v is not None})
            export_dir = train_joint(cfg, Path(init), resume)
        else:
            from codec.train.loop import train as run
            from codec.weights import read_config

            if init and channels is not None:
                raise Failure("--channels does not apply with --init: the weights set it "
                              "(--analysis-channels and --synthesis-channels widen them)")
            model = ModelConfig()
            init_model = ModelConfig.from_json(read_config(Path(init)).get("model", {})) if init else model
            model = ModelConfig(channels=channels or model.channels,
                                latent_channels=latent_channels or init_model.latent_channels,
                                lambdas=lower_lambdas(init_model.lambdas, lower_levels or 0),
                                analysis_channels=analysis_channels, synthesis_channels=synthesis_channels)
            cfg = TrainConfig(**common, kodak_dir=kodak_dir or "", optimizer=optimizer or "soap",
                              model=model.with_checkerboard() if checkerboard else model,
                              **({"lr": lr} if lr else {}),
                              **({"contractive_weight": contractive_weight} if contractive_weight is not None else {}))
            export_dir = run(cfg, Path(init) if init else None, resume)
    except (ValueError, FloatingPointError) as e:
        raise Failure(str(e)) from None
    if world.is_main:
        _say(ctx, f"weights exported to {export_dir}")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, help="Weights folder to write.")
@click.option("-f", "--force", is_flag=True, help="Overwrite the weights already in the folder.")
@_verbosity
@_guard
def export(ctx, run_dir, output, force, verbosity) -> None:
    """Export the averaged weights of a training run's checkpoint (e.g. an interrupted run)."""
    from codec.train.loop import export_checkpoint
    from codec.weights import CONFIG_FILE, WEIGHTS_FILE

    if not force and any((Path(output) / f).exists() for f in (WEIGHTS_FILE, CONFIG_FILE)):
        raise Failure(f"{output} already holds weights (use --force to overwrite)")
    try:
        _say(ctx, f"weights exported to {export_checkpoint(Path(run_dir), Path(output))}")
    except ValueError as e:
        raise Failure(str(e)) from None


@main.command("eval")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", default="results/eval", show_default=True,
              help="Folder for the CSV, JSON, plots, BD-rate table and the cache of measurements.")
@click.option("--codecs", "codec_names",
              help="Comma-separated, from aec, aec-gan, jpeg, webp, avif, avif-444, jxl, hevc (default: all that can run).")
@click.option("--metrics", "metric_names", default="psnr,ms-ssim,perceptual", show_default=True,
              help="Comma-separated: psnr, ms-ssim, st-lpips, ms-gmsd, haarpsi, fd (the Fréchet distance of VGG window "
                   "features, over all the images); perceptual = st-lpips,ms-gmsd.")
@click.option("--settings", "setting_specs", multiple=True, metavar="CODEC=Q,Q,...",
              help="Settings of one codec instead of its default sweep (repeatable).")
@click.option("--anchors", multiple=True, help="Published result JSON files (CompressAI schema), or folders of them, to overlay.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="Measurements run in parallel.")
@click.option("--weights", type=click.Path(exists=True, file_okay=False), help="Weights folder (default: shipped).")
@_verbosity
@_guard
def evaluate(ctx, inputs, out_dir, codec_names, metric_names, setting_specs, anchors, jobs, weights, verbosity) -> None:
    """Rate-distortion evaluation of aecodec and classical codecs on images or folders of them."""
    from codec.evaluate import pipeline

    req = pipeline.Request(tuple(map(Path, inputs)), Path(out_dir), _comma_list(codec_names) if codec_names else None,
                  _comma_list(metric_names), pipeline.parse_settings(setting_specs), tuple(map(Path, anchors)), jobs, weights,
                  progress=ctx.obj["verbosity"] >= 0)
    t0 = time.perf_counter()
    outcome = pipeline.evaluate(req, lambda msg: _say(ctx, f"aecodec: {msg}"))
    _say(ctx, f"{outcome.measured} measured, {outcome.reused} reused from the cache, {time.perf_counter() - t0:.0f} s; "
              f"results in {out_dir}")
    for path in outcome.files:
        _say(ctx, f"  {path}", 1)


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())
