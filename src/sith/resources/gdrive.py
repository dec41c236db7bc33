"""Public Google Drive files and folders through ``gdown`` (the client the seed itself uses).

``gdown`` follows Drive's pages (the large-file confirmation, the usercontent host, the
embedded folder view) as they change; this module adds what sith promises on top:

* :func:`list_folder` — every file under a public folder, ``path`` relative to it
  (``gdown.download_folder(..., skip_download=True)``), each path checked to stay inside;
* :func:`download_file` — one file into a hidden ``.NAME.download`` beside the target
  (``gdown.download(id=..., resume=True)``: gdown streams into its own hidden ``.part``
  file, resumes it with an HTTP ``Range`` request after a dropped connection, ``retries``
  times within a call and across calls), then the checks (not an HTML page, the caller's
  ``check``), the SHA-256, and a rename into place. A failed check deletes the staged file;
  an interrupted download keeps gdown's part file for the next run to resume.

Every failure is one :class:`SithError` line. No cookie file is read or written
(``use_cookies=False``: the session's own cookies still carry the confirmation step).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from sith.errors import SithError
from sith.resources.provenance import file_sha256

TIMEOUT_S = 60.0
_ID = re.compile(r"^[A-Za-z0-9_-]{10,}$")


@dataclass(frozen=True)
class DriveEntry:
    """One file of a folder: its Drive id and its path relative to the folder (``/``-separated)."""

    id: str
    path: str


def check_id(drive_id: str, what: str = "Drive id") -> str:
    if not _ID.match(drive_id):
        raise SithError(f"{drive_id!r} is not a valid {what}; check the id")
    return drive_id


def one_line(exc: BaseException) -> str:
    """gdown's message (often several lines with a FAQ link) folded to its first sentence."""
    text = " ".join(str(exc).split())
    for cut in (" You may ", " Check FAQ", " Please check", ". The received bytes"):
        text = text.split(cut)[0]
    return text.rstrip(". ") or type(exc).__name__


def drive_error(exc: BaseException, what: str) -> SithError:
    """A gdown or requests failure as one line naming ``what`` and the next step."""
    import requests

    cause = exc.__cause__ or exc  # gdown wraps the last network error after its retries
    if isinstance(cause, requests.ConnectionError | requests.Timeout):
        return SithError(f"cannot reach Google Drive for {what} ({one_line(cause)[:200]}); "
                         "check your connection")
    low = str(exc).lower()
    if "quota" in low or "too many users" in low or "many accesses" in low:
        hint = "Drive's download quota for this file may be exhausted, try again in a day"
    elif "incomplete" in low or "byte range" in low:
        hint = "run the command again to resume"
    else:
        hint = "check that it is public (open it in a browser) or try again later"
    return SithError(f"cannot download {what} from Google Drive: {one_line(exc)}; {hint}")


def safe_path(path: str) -> str:
    """A listed path that stays inside the folder (Drive names may hold anything)."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if not parts or any(p in ("", ".", "..") for p in parts) or path.startswith("/") or "\x00" in path:
        raise SithError(f"Drive listed an unusable file name {path!r}; download that file by hand")
    return "/".join(parts)


def list_folder(folder_id: str, *, timeout: float = TIMEOUT_S) -> list[DriveEntry]:
    """Every file under public folder ``folder_id`` (subfolders recursively), in listing order."""
    import gdown
    import requests
    from gdown.exceptions import DownloadError

    check_id(folder_id, "Drive folder id")
    try:
        found = gdown.download_folder(id=folder_id, skip_download=True, quiet=True, use_cookies=False,
                                      timeout=timeout)
    except (DownloadError, requests.RequestException) as exc:
        raise drive_error(exc, f"the list of folder {folder_id}") from None
    return [DriveEntry(f.id, safe_path(f.path)) for f in found or []]


def download_file(file_id: str, dest: str | Path, *, check: Callable[[Path], None] | None = None,
                  retries: int = 3, timeout: float = TIMEOUT_S, progress: bool = True,
                  label: str | None = None) -> tuple[Path, str]:
    """Download Drive file ``file_id`` to ``dest`` (module doc); returns ``(dest, sha256 hex)``.

    ``check(staged_path)`` raises :class:`SithError` for a file that is not what was expected
    (e.g. not a weights-only torch file); the staged file is then deleted.
    """
    dest = Path(dest)
    check_id(file_id, "Drive file id")
    made = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = dest.with_name(f".{dest.name}.download")
    try:
        fetch(file_id, staged, retries=retries, timeout=timeout, progress=progress, label=label or dest.name)
        verify_staged(staged, dest, file_id, check)
    except BaseException:
        remove_empty(made)  # a refused download leaves no empty folder behind
        raise
    sha = file_sha256(staged)
    os.replace(staged, dest)
    return dest, sha


def remove_empty(folders: list[Path]) -> None:
    """Remove the folders this call made (innermost first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def partial_files(staged: Path) -> list[Path]:
    """gdown's part files of ``staged`` (``NAME`` + 8 random characters + ``.part``)."""
    return [p for p in staged.parent.glob(f"{staged.name}*.part")
            if len(p.name) == len(staged.name) + 8 + len(".part")]


def fetch(file_id: str, staged: Path, *, retries: int, timeout: float, progress: bool, label: str) -> None:
    """``gdown.download`` into ``staged`` with a sith progress bar; a server that does not
    honour the resume range gets one fresh download (the stale part file dropped)."""
    import gdown
    import requests
    from gdown.exceptions import DownloadError

    bar = tqdm(unit="B", unit_scale=True, desc=label, disable=not progress)

    def tick(done: int, total: int | None) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        for fresh in (False, True):
            try:
                gdown.download(id=file_id, output=str(staged), quiet=True, resume=True, retries=retries,
                               use_cookies=False, timeout=timeout, progress=tick)
                return
            except DownloadError as exc:
                if fresh or "byte range" not in str(exc):
                    raise
                for part in partial_files(staged):
                    part.unlink()
                bar.reset()
    except (DownloadError, requests.RequestException) as exc:
        name = staged.name[1:].removesuffix(".download")
        raise drive_error(exc, f"{name} (Drive file {file_id})") from None
    finally:
        bar.close()


def verify_staged(staged: Path, dest: Path, file_id: str, check: Callable[[Path], None] | None) -> None:
    """Not an HTML page, and the caller's check; on failure the staged file is removed."""
    try:
        with open(staged, "rb") as fh:
            head = fh.read(512).lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            raise SithError(
                f"Drive file {file_id} for {dest.name} arrived as an HTML page, not the file "
                "(quota, permission or a changed page); nothing was written, try again later"
            )
        if check is not None:
            check(staged)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
