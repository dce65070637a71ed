"""``padless export``: an artifact's model to ONNX (fp32 or int8) or TorchScript, stamped.

:func:`export_artifact` loads the model directory, dispatches to :mod:`padless.deploy.onnx`
or :mod:`padless.deploy.torchscript` (each checks its file against eager on a ragged batch),
writes the file where ``padless predict --backend onnx|torchscript`` looks by default, and
records in it the sha256 of the weights it came from, so a predictor refuses an export of
another model (:mod:`padless.deploy.backends`). A file written inside the model directory is
then added to its manifest (:func:`padless.deploy.manifest.add_export`, an atomic rewrite),
and the backends refuse it if it changes or is not listed; a file written elsewhere is
checked by its weights stamp alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from padless.deploy.artifact import DEFAULT_NAMES, WEIGHTS_KEY, weights_digest
from padless.deploy.manifest import add_export, check_name, read_manifest
from padless.deploy.onnx import export_onnx, quantize_onnx, stamp_onnx
from padless.errors import ExportError, format_error

if TYPE_CHECKING:
    from padless.models.classifier import SequenceClassifier

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "onnx-int8", "torchscript")


def export_artifact(
    directory: str | Path, out: str | Path | None = None, fmt: str = "onnx"
) -> dict[str, Any]:
    """Export the model of an artifact directory (``DIR/model``) to ``out``.

    ``fmt`` is ``"onnx"`` (fp32), ``"onnx-int8"`` (the fp32 export, checked against eager,
    then dynamically quantised) or ``"torchscript"`` (:mod:`padless.deploy.torchscript`). ``out``
    defaults to ``DIR/model.onnx`` / ``DIR/model-int8.onnx`` / ``DIR/model-torchscript.pt``,
    where ``padless predict --backend onnx|torchscript`` looks. The file records the sha256 of
    the weights it came from, so a predictor refuses an export of another model; inside the
    model directory it is also listed in the manifest (``"manifest": true`` in the report).
    """
    from padless.deploy.artifact import load_artifact

    if fmt not in FORMATS:
        raise ExportError(
            format_error("--format", f"one of {', '.join(FORMATS)}", repr(fmt), "pick one")
        )
    d = Path(directory)
    art = load_artifact(d)
    model = art.model
    assert model is not None  # load_artifact builds the network unless model=False
    out = Path(out) if out is not None else d / DEFAULT_NAMES[fmt]
    inside = out.parent.resolve() == d.resolve()
    if inside and (check_name(out.name, "--out") in read_manifest(d).files or out.is_symlink()):
        raise ExportError(
            format_error(
                str(out),
                "a new file name in the model directory",
                "a model file" if not out.is_symlink() else "a symlink",
                "pick another --out (the default is model.onnx / model-torchscript.pt)",
            )
        )
    text = art.pipeline.text
    ids_per_step = 2 if text is not None and text.bigrams is not None else 1
    report = _export(model, out, fmt, ids_per_step, weights_digest(d))
    if inside:
        add_export(d, out.name)
    else:
        logger.info("%s is outside %s: not in its manifest, checked by its stamp alone", out, d)
    return {**report, "manifest": inside}


def _export(
    model: SequenceClassifier, out: Path, fmt: str, ids_per_step: int, digest: str
) -> dict[str, Any]:
    """Write and stamp the file; the report of :func:`export_artifact`."""
    import tempfile

    if fmt == "torchscript":
        from padless import __version__
        from padless.deploy.torchscript import export_torchscript

        meta = {WEIGHTS_KEY: digest, "padless.version": __version__}
        report = export_torchscript(model, out, ids_per_step=ids_per_step, metadata=meta)
        return {"format": fmt, **report}
    if fmt == "onnx":
        report = export_onnx(model, out, ids_per_step=ids_per_step)
        stamp_onnx(out, digest)
        return {"format": fmt, **report, "bytes": out.stat().st_size}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        report = export_onnx(model, fp32, ids_per_step=ids_per_step)
        out.parent.mkdir(parents=True, exist_ok=True)
        q = quantize_onnx(fp32, out, model, ids_per_step)
    stamp_onnx(out, digest)
    logger.info(
        "int8: %d → %d bytes; max logit change vs fp32 %.3g",
        q["fp32_bytes"],
        q["bytes"],
        q["int8_max_abs_change"],
    )
    return {"format": fmt, **report, "path": str(out), **q, "bytes": out.stat().st_size}
