"""``manifest.json``: which files make up a model directory, and the sha256 of each.

Why one module: the manifest is what stands between a loader and a forged or tampered model
directory, so every reader of ``DIR/model`` (:func:`padless.deploy.artifact.load_artifact`,
the ONNX and TorchScript backends, ``padless export`` adding its file) applies the same rules,
written once here:

* the manifest is a JSON object ``{"padless_version": str, "files": {name: sha256},
  "exports": {name: sha256}}`` of at most :data:`MAX_MANIFEST_BYTES`, nothing else;
  ``files`` are the model's own files (checked on every load), ``exports`` the files
  ``padless export`` added (checked when a backend opens one);
* a name is a plain file name inside the directory: no separator, no ``..``, not absolute;
* a file is read only if it is listed, and only after its digest is checked: a listed file must
  be a regular file, not a symlink (padless writes plain files), so nothing outside the
  directory is ever read; a file that is not listed is never read;
* the manifest is replaced atomically (a temporary file, then ``os.replace``), so a reader sees
  the old manifest or the new one, never a mix.

Torch-free: the edge install loads artifacts through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from padless import __version__
from padless.errors import ArtifactError, format_error

__all__ = [
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "Manifest",
    "add_export",
    "check_name",
    "read_manifest",
    "verify_manifest",
    "write_manifest",
]

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20  # a manifest lists a dozen files: ~1 KB
_DIGEST = re.compile(r"[0-9a-f]{64}")
_KEYS = ("padless_version", "files", "exports")
_SAVE_FIX = "re-save the model (`padless train`), or restore the original model directory"


def _error(where: object, expected: str, got: str, fix: str | None = _SAVE_FIX) -> ArtifactError:
    return ArtifactError(format_error(str(where), expected, got, fix))


def check_name(name: object, where: str) -> str:
    """``name`` if it is a plain file name inside the directory, else :class:`ArtifactError`:
    absolute paths, ``..``, separators (which could leave it) and the manifest are refused."""
    plain = (
        isinstance(name, str)
        and name not in ("", ".", "..", MANIFEST)
        and not any(c in name for c in "/\\\0")
        and Path(name).name == name
    )
    if not plain:
        raise _error(where, "a plain file name inside the model directory", repr(name))
    assert isinstance(name, str)
    return name


def _open_plain(path: Path, what: str) -> int:
    """A read-only descriptor of ``path``, refusing symlinks and anything but a regular file."""
    if path.is_symlink():
        raise _error(path, f"{what} as a plain file", "a symlink", "copy the file itself")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise _error(path, what, "missing", "copy the whole model directory") from None
    except OSError as exc:
        raise _error(path, what, f"unreadable ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _error(path, f"{what} as a plain file", "not a regular file")
    return fd


def _read_plain(path: Path, what: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``, else an error)."""
    with os.fdopen(_open_plain(path, what), "rb") as f:
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise _error(path, f"{what} of at most {limit} bytes", f"more than {limit} bytes")
    return data


def _sha256(path: Path, what: str) -> str:
    h = hashlib.sha256()
    with os.fdopen(_open_plain(path, what), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A parsed, checked ``manifest.json`` of ``directory``: names → sha256 (lowercase hex).
    Nothing is hashed until asked (:meth:`verify`, :meth:`verify_files`, :meth:`read_export`)."""

    directory: Path
    files: Mapping[str, str]
    exports: Mapping[str, str] = field(default_factory=dict)
    padless_version: str | None = None

    def digest(self, name: str, fix: str = _SAVE_FIX) -> str:
        """The recorded sha256 of the model file ``name``; refused if it is not listed."""
        if name not in self.files:
            raise _error(
                self.directory / name,
                f"a file listed in {MANIFEST}",
                "a file it does not list",
                fix,
            )
        return self.files[name]

    def verify(self, name: str, fix: str = _SAVE_FIX) -> Path:
        """The path of the listed model file ``name`` once its sha256 matches."""
        path = self.directory / name
        _match(path, self.digest(name, fix), _sha256(path, f"a file listed in {MANIFEST}"))
        return path

    def verify_files(self) -> None:
        """Check every model file (``files``) against its digest. Exports are checked by
        :meth:`read_export`, when a backend opens one."""
        for name in self.files:
            self.verify(name)

    def read_export(self, name: str, fix: str = _SAVE_FIX) -> bytes:
        """The bytes of the listed export ``name``, read once and checked, so what runs is what
        was checked."""
        path = self.directory / name
        if name not in self.exports:
            raise _error(path, f"an export listed in {MANIFEST}", "a file it does not list", fix)
        data = _read_plain(path, f"an export listed in {MANIFEST}")
        _match(path, self.exports[name], hashlib.sha256(data).hexdigest())
        return data

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"padless_version": self.padless_version or __version__}
        out["files"] = dict(sorted(self.files.items()))
        if self.exports:
            out["exports"] = dict(sorted(self.exports.items()))
        return out


def _match(path: Path, expected: str, actual: str) -> None:
    if actual != expected:
        raise _error(
            path,
            f"sha256 {expected}",
            f"sha256 {actual}",
            "the file was changed or corrupted; restore the original model directory",
        )


def _table(manifest: dict[str, Any], key: str, where: str) -> dict[str, str]:
    table = manifest.get(key, {})
    if not isinstance(table, dict):
        raise _error(where, f"'{key}' as an object of file name → sha256", type(table).__name__)
    for name, digest in table.items():
        check_name(name, f"{where} '{key}'")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise _error(
                f"{where} '{key}' {name!r}", "a sha256 of 64 lowercase hex digits", repr(digest)
            )
    return dict(table)


def read_manifest(directory: str | Path) -> Manifest:
    """Read and check ``directory/manifest.json`` (see the module docstring for the rules)."""
    d = Path(directory)
    path = d / MANIFEST
    if not path.exists() and not path.is_symlink():
        raise _error(
            d,
            f"a model directory with {MANIFEST}",
            "no manifest" if d.is_dir() else "no such directory",
            "point at DIR/model written by `padless train`",
        )
    raw = _read_plain(path, "the manifest", MAX_MANIFEST_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise _error(path, "a JSON manifest", f"unreadable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _error(path, "a JSON object", f"a {type(data).__name__}")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise _error(path, f"only the keys {', '.join(_KEYS)}", f"also {unknown[0]!r}")
    version = data.get("padless_version")
    if version is not None and not isinstance(version, str):
        raise _error(path, "'padless_version' as a string", repr(version))
    files, exports = _table(data, "files", str(path)), _table(data, "exports", str(path))
    both = sorted(set(files) & set(exports))
    if both:
        raise _error(path, "a name under 'files' or 'exports', not both", repr(both[0]))
    return Manifest(d, files, exports, version)


def verify_manifest(directory: str | Path) -> dict[str, Any]:
    """Check every model file listed in ``manifest.json``; return the manifest as JSON."""
    manifest = read_manifest(directory)
    manifest.verify_files()
    return manifest.to_json()


def _write(manifest: Manifest) -> Manifest:
    """Replace ``manifest.json`` atomically: a temporary file in the directory, then rename."""
    text = json.dumps(manifest.to_json(), indent=2)
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=manifest.directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, manifest.directory / MANIFEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


def write_manifest(directory: str | Path, names: Iterable[str]) -> Manifest:
    """List the model files ``names`` of ``directory`` with their sha256 (no exports)."""
    d = Path(directory)
    files = {}
    for name in sorted(set(names)):
        files[check_name(name, str(d))] = _sha256(d / name, "a model file")
    return _write(Manifest(d, files, {}, __version__))


def add_export(directory: str | Path, name: str) -> Manifest:
    """Add (or update) the export ``name`` of ``directory`` in its manifest, atomically. The
    model files' entries are kept; a model file's name is refused."""
    manifest = read_manifest(directory)
    path = manifest.directory / check_name(name, str(manifest.directory))
    if name in manifest.files:
        raise _error(
            path,
            "an export name",
            "a model file listed in the manifest",
            "export with another --out; an export never replaces a model file",
        )
    exports = {**manifest.exports, name: _sha256(path, "the exported file")}
    return _write(Manifest(manifest.directory, manifest.files, exports, manifest.padless_version))
