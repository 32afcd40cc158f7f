"""The BentoML model store: registering a trained model folder and resolving a reference."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

MODEL_NAME = "stanceframe"
DEFAULT_REF = f"{MODEL_NAME}:latest"


class ModelNotFoundError(LookupError):
    """Neither a model folder nor a store tag matches the reference."""


def register_model(model_dir: str | Path, metadata: dict) -> str:
    """Copy a `save_pretrained` folder into the store as `stanceframe:<version>`; return the tag."""
    import bentoml

    with bentoml.models.create(MODEL_NAME, metadata=metadata) as stored:
        shutil.copytree(model_dir, stored.path, dirs_exist_ok=True)
    tag = str(stored.tag)
    logger.info("Registered %s in the BentoML model store", tag)
    return tag


def resolve_model(ref: str | None = None) -> tuple[Path, str]:
    """A folder path, or a store tag (default `stanceframe:latest`), to (folder, tag)."""
    if ref and Path(ref).is_dir():
        return Path(ref), str(Path(ref))
    import bentoml
    from bentoml.exceptions import NotFound

    tag = ref or DEFAULT_REF
    try:
        stored = bentoml.models.get(tag)
    except (NotFound, ValueError) as error:  # ValueError: not even a valid tag, e.g. a mistyped path
        raise ModelNotFoundError(
            f"No model {tag!r} in the BentoML store and no folder of that name. "
            f"Train one with `stanceframe train`, or pass --model with a tag or a folder."
        ) from error
    return Path(stored.path), str(stored.tag)


def model_fingerprint(model_dir: str | Path) -> str:
    """SHA-256 over every file of a model folder (names and bytes): which model this is, by content."""
    import hashlib

    digest = hashlib.sha256()
    folder = Path(model_dir)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def has_model(ref: str = DEFAULT_REF) -> bool:
    try:
        resolve_model(ref)
    except ModelNotFoundError:
        return False
    return True
