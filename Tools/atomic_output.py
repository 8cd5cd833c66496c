"""Output files that are never seen half-written and never written over an input."""
from __future__ import annotations

import os
import tempfile
from typing import Callable


def replace_atomically(path: str, write: Callable[[str], None], protect: tuple[str, ...] = ()) -> None:
    """Calls `write(temporary)` on a new file in `path`'s folder, gives it the permissions a new file
    gets (some writers, safetensors among them, make it owner-only) and renames it to `path`, so an
    interrupted run never leaves a partial file and an existing `path` stays whole until the new one
    is complete. Refuses (ValueError) when `path` is one of the files in `protect`."""
    for other in protect:
        if os.path.exists(path) and os.path.exists(other) and os.path.samefile(path, other):
            raise ValueError(f"{path}: refusing to write the output over the input; choose another output path")
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".partial", dir=folder)
    os.close(fd)
    try:
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
