"""Training checkpoints under ``RUN_DIR/checkpoints/`` for ``padless train --resume``.

One file per epoch, ``epoch-NNNN.pt``, written atomically (temp file in the same directory,
fsync, ``os.replace``, fsync of the directory), so a run killed with SIGKILL leaves either the
old or the new checkpoint, never half of one. A save checks the disk has room for it first
(:func:`state_bytes`); a full disk, a file-size limit or a read-only directory met while
writing becomes a :class:`~padless.errors.TrainingError` naming the file, the bytes needed and
the checkpoint to resume from (:mod:`padless.train.outdir`), and the temp file is removed.
Files are read with ``torch.load(weights_only=True)``: nothing in them is unpickled beyond
tensors and plain containers, so no code runs on load.

Everything a checkpoint holds must survive that loader: tensors, ``bool``/``int``/``float``/
``complex``/``str``/``bytes``/``None``, ``dict``/``OrderedDict``/``list``/``tuple``/``set``,
``torch.Size``/``dtype``/``device``. :func:`capture_rng` converts the RNG states to those types.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import torch

from padless import __version__
from padless.errors import ArtifactError, format_error
from padless.train.outdir import check_space, fsync_path, replace_whole, writing

logger = logging.getLogger(__name__)

FORMAT = "padless-checkpoint"
FORMAT_VERSION = 1
_RESERVED = ("format", "version", "padless_version")
_EPOCH_FILE = re.compile(r"epoch-(\d+)\.pt")
_TEMP_FILE = re.compile(r"\.epoch-\d+\.pt\..*\.tmp")
# Leaf types torch.load(weights_only=True) rebuilds (checked empirically on torch 2.13).
_LEAVES = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.Size)
_TENSORS = (torch.Tensor, torch.nn.Parameter)
_SLACK = 16 * 1024  # bytes of a checkpoint beyond its tensors and strings (pickle, zip records)


def state_bytes(obj: Any) -> int:
    """About how many bytes ``obj`` takes on disk: tensor data and strings exactly, 8 bytes per
    other leaf (a lower bound: the file adds pickle and zip records)."""
    if isinstance(obj, torch.Tensor):
        return obj.nelement() * obj.element_size()
    if isinstance(obj, dict):
        return sum(state_bytes(k) + state_bytes(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set)):
        return sum(state_bytes(v) for v in obj)
    if isinstance(obj, (str, bytes)):
        return len(obj)
    return 8


def _encode_np(obj: Any) -> Any:
    """Turn NumPy's bit-generator state into plain lists, ints and floats (arrays are tagged)."""
    if isinstance(obj, dict):
        return {k: _encode_np(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _decode_np(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return np.array(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
        return {k: _decode_np(v) for k, v in obj.items()}
    return obj


def capture_rng() -> dict[str, Any]:
    """Snapshot Python ``random``, NumPy's global RNG, torch CPU and (initialised) CUDA RNGs.

    The result only holds types ``torch.load(weights_only=True)`` accepts.
    """
    version, internal, gauss_next = random.getstate()
    cuda: list[torch.Tensor] = []
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": _encode_np(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
        "cuda": cuda,
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Restore the RNG states returned by :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    np.random.set_state(_decode_np(state["numpy"]))
    torch.set_rng_state(state["torch"])
    cuda = list(state.get("cuda") or [])
    if not cuda:
        return
    if not torch.cuda.is_available():
        logger.warning("checkpoint has CUDA RNG states but CUDA is unavailable; ignoring them")
        return
    count = torch.cuda.device_count()
    if count != len(cuda):
        logger.warning(
            "checkpoint has RNG states for %d CUDA devices, this machine has %d; "
            "restoring the first %d",
            len(cuda),
            count,
            min(count, len(cuda)),
        )
    for i, s in enumerate(cuda[:count]):
        torch.cuda.set_rng_state(s, device=i)


def _check_loadable(obj: Any, where: str) -> None:
    """Raise ``TypeError`` for values ``torch.load(weights_only=True)`` would refuse."""
    if type(obj) in _LEAVES or type(obj) in _TENSORS:
        return
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            _check_loadable(k, f"{where} key {k!r}")
            _check_loadable(v, f"{where}[{k!r}]")
        return
    if type(obj) in (list, tuple, set):
        for i, v in enumerate(obj):
            _check_loadable(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where}: {type(obj).__module__}.{type(obj).__qualname__} cannot be loaded with "
        "torch.load(weights_only=True); store it as a tensor, Python number, string, "
        "list or dict"
    )


class _Recorded:
    """A binary file that keeps its write error: ``torch.save`` reports one as a RuntimeError
    ("file write failed") that names no cause."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return int(self.f.write(data))
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.f.flush()


def _short(exc: BaseException) -> str:
    """One line of an exception message (torch's weights_only errors span a page)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    boilerplate = ("Weights only load failed", "Check the documentation")
    useful = [ln for ln in lines if not ln.startswith(boilerplate)] or lines
    line = useful[0].split(". ")[0][:200] if useful else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


class CheckpointManager:
    """Atomic per-epoch checkpoints in ``directory``, keeping the newest ``keep`` files.

    One writer per directory: :meth:`save` also deletes temp files left by a killed save.
    """

    def __init__(self, directory: str | Path, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def path_for(self, epoch: int) -> Path:
        """The file epoch ``epoch`` is (or would be) saved to."""
        return self.directory / f"epoch-{epoch:04d}.pt"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoint files, oldest epoch first (temp files are ignored)."""
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            m = _EPOCH_FILE.fullmatch(p.name)
            if m and p.is_file():
                found.append((int(m.group(1)), p))
        return [p for _, p in sorted(found)]

    def latest(self) -> Path | None:
        """The newest checkpoint file, or ``None`` when there is none."""
        files = self.checkpoints()
        return files[-1] if files else None

    def save(self, epoch: int, state: dict[str, Any]) -> Path:
        """Atomically write ``state`` as epoch ``epoch``, then prune beyond ``keep``.

        The file also records ``epoch``, ``format``, ``version`` and ``padless_version``.
        """
        clash = [k for k in _RESERVED if k in state]
        if clash:
            raise ValueError(f"checkpoint state must not use the reserved keys {clash}")
        if state.get("epoch", epoch) != epoch:
            raise ValueError(f"state['epoch'] is {state['epoch']!r} but saving epoch {epoch}")
        payload = {**state, "epoch": epoch, "format": FORMAT, "version": FORMAT_VERSION}
        payload["padless_version"] = __version__
        _check_loadable(payload, "checkpoint state")
        final = self.path_for(epoch)
        previous = self.latest()
        then = f"rerun with --resume to continue from {previous}" if previous else ""
        need, what = state_bytes(payload) + _SLACK, f"write checkpoint {final.name}"
        with writing(final, what, need, then):
            self.directory.mkdir(parents=True, exist_ok=True)
            check_space(final, need, what, then)
            self._write(payload, final)
        fsync_path(self.directory)
        logger.info("saved checkpoint %s", final)
        self._prune()
        return final

    def _write(self, payload: dict[str, Any], final: Path) -> None:
        def dump(f: IO[bytes]) -> None:
            recorded = _Recorded(f)
            try:
                torch.save(payload, cast(IO[bytes], recorded))  # it only writes
            except RuntimeError as exc:
                if recorded.error is None:
                    raise
                raise recorded.error from exc

        replace_whole(final, dump, mode=0o600)  # a checkpoint stays private to its owner

    def _prune(self) -> None:
        for p in self.checkpoints()[: -self.keep]:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            logger.debug("removed old checkpoint %s", p)
        # Temp files left behind by a run killed mid-save.
        for p in self.directory.iterdir():
            if _TEMP_FILE.fullmatch(p.name):
                with contextlib.suppress(OSError):
                    p.unlink()
                logger.debug("removed leftover temp file %s", p)

    def load(self, path: str | Path | None = None) -> dict[str, Any]:
        """Load ``path``, or the newest readable checkpoint (falling back past corrupt ones)."""
        if path is not None:
            return _read(Path(path))
        return self.newest()[1]

    def newest(self) -> tuple[Path, dict[str, Any]]:
        """(path, state) of the newest readable checkpoint: corrupt newer ones are skipped
        with a warning naming each and why."""
        files = self.checkpoints()[::-1]
        if not files:
            raise ArtifactError(
                format_error(
                    str(self.directory),
                    "a directory with checkpoints epoch-NNNN.pt",
                    "no checkpoints" if self.directory.is_dir() else "no such directory",
                    "start without --resume",
                )
            )
        errors: list[ArtifactError] = []
        for i, p in enumerate(files):
            try:
                return p, _read(p)
            except ArtifactError as exc:
                errors.append(exc)
                if i + 1 < len(files):
                    logger.warning(
                        "skipping checkpoint %s, falling back to %s: %s",
                        p.name,
                        files[i + 1].name,
                        exc,
                    )
        if len(errors) == 1:
            raise errors[0]
        raise ArtifactError(
            format_error(
                str(self.directory),
                "at least one readable checkpoint",
                f"{len(errors)} unreadable ones (newest: {errors[0]})",
                "start without --resume",
            )
        )


def _read(path: Path) -> dict[str, Any]:
    """Read and validate one checkpoint file; every failure is an :class:`ArtifactError`."""
    fix = f"delete {path} to fall back to the previous checkpoint, or start without --resume"
    if not path.is_file():
        raise ArtifactError(
            format_error(str(path), "a padless checkpoint file", "no such file", fix)
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, refused pickle, ...: torch raises many types
        raise ArtifactError(
            format_error(
                str(path), "a complete padless checkpoint", f"unreadable ({_short(exc)})", fix
            )
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        got = f"format {obj.get('format')!r}" if isinstance(obj, dict) else type(obj).__name__
        raise ArtifactError(format_error(str(path), f"a {FORMAT} file", got, fix))
    if obj.get("version") != FORMAT_VERSION:
        raise ArtifactError(
            format_error(
                str(path),
                f"checkpoint format version {FORMAT_VERSION}",
                f"version {obj.get('version')!r} (written by padless {obj.get('padless_version')})",
                "resume with the padless version that wrote it, or start without --resume",
            )
        )
    if obj.get("padless_version") != __version__:
        logger.warning(
            "%s was written by padless %s, this is %s; the resumed run may not match bit for bit",
            path,
            obj.get("padless_version"),
            __version__,
        )
    return obj
