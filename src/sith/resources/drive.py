"""A small Google Drive client on ``urllib``: download a public file (issue 26); listing a
folder is :mod:`sith.resources.drivefolder`.

Download (:func:`download_file`): ``{drive}/uc?export=download&id=ID`` answers a small file
directly. A large one is answered with an HTML page ("can't scan this file for viruses");
the real address is then found, in this order:

1. a ``download_warning…`` cookie (older Drive): ``uc?export=download&confirm=TOKEN&id=ID``;
2. the page's ``<form id="download-form" action="https://drive.usercontent.google.com/download">``
   with hidden ``id``, ``export``, ``confirm``, ``uuid`` inputs (current Drive);
3. a ``confirm=TOKEN`` link in the page.

The body streams into a hidden ``.NAME.part`` file beside the target; a connection that
drops is resumed with an HTTP ``Range`` request (or restarted when the server ignores it),
up to ``retries`` times; the part file stays for a rerun to resume. The finished file is
checked (not an HTML page, the announced size, the caller's check) and renamed into place;
a failed check deletes the part file. ``SITH_DRIVE_URL`` (or ``DriveEndpoints``) points
both hosts elsewhere (the tests' local server).
"""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from tqdm.auto import tqdm

from sith.errors import SithError
from sith.resources.provenance import file_sha256

DRIVE_URL_ENV = "SITH_DRIVE_URL"
DEFAULT_DRIVE = "https://drive.google.com"
DEFAULT_USERCONTENT = "https://drive.usercontent.google.com"
TIMEOUT_S = 60.0
CHUNK = 1 << 20
MAX_PAGE = 4 << 20  # bytes of an HTML page read before giving up on it
_ID = re.compile(r"^[A-Za-z0-9_-]{10,}$")
_CONFIRM_LINK = re.compile(r"confirm=([0-9A-Za-z_-]+)")


class HttpStatusError(SithError):
    """An HTTP error answer (the status is ``code``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DriveEndpoints:
    """The two hosts Drive answers from (``drive.google.com``, ``drive.usercontent.google.com``)."""

    drive: str = DEFAULT_DRIVE
    usercontent: str = DEFAULT_USERCONTENT

    @classmethod
    def from_env(cls, base: str | None = None) -> DriveEndpoints:
        """``base`` or ``$SITH_DRIVE_URL`` for both hosts; else Google's."""
        base = base or os.environ.get(DRIVE_URL_ENV)
        if base:
            return cls(drive=base.rstrip("/"), usercontent=base.rstrip("/"))
        return cls()


def check_id(drive_id: str, what: str = "Drive id") -> str:
    if not _ID.match(drive_id):
        raise SithError(f"{drive_id!r} is not a valid {what}; check the id")
    return drive_id


def open_url(opener: urllib.request.OpenerDirector, url: str, *, timeout: float,
             headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """Open ``url``; an unreachable host or an HTTP error is a one-line :class:`SithError`."""
    req = urllib.request.Request(url, headers={"User-Agent": "sith", **(headers or {})})
    try:
        return opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        hint = " (not public, or a wrong id)" if exc.code in (401, 403, 404) else ""
        raise HttpStatusError(
            f"{url} answered HTTP {exc.code} {exc.reason}{hint}; check the id and try again", exc.code
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SithError(
            f"cannot reach {url}: {reason}; check your connection (or {DRIVE_URL_ENV})"
        ) from None


# --------------------------------------------------------------------------- download


def is_html(resp: http.client.HTTPResponse) -> bool:
    return "text/html" in (resp.headers.get("Content-Type") or "").lower()


class _FormParser(HTMLParser):
    """The ``download-form`` of a confirmation page: its action and hidden inputs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and (a.get("id") == "download-form" or "download" in a.get("action", "")):
            self._inside, self.action = True, a.get("action", "")
        elif tag == "input" and self._inside and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def confirm_url(page: str, page_url: str, file_id: str, cookies: http.cookiejar.CookieJar,
                ep: DriveEndpoints) -> str | None:
    """The real download address behind a confirmation page (module doc), or ``None``."""
    for c in cookies:
        if c.name.startswith("download_warning") and c.value:
            return f"{ep.drive}/uc?export=download&confirm={c.value}&id={file_id}"
    form = _FormParser()
    form.feed(page)
    if form.action is not None and form.fields.get("confirm"):
        action = urllib.parse.urljoin(page_url, form.action) if form.action else f"{ep.usercontent}/download"
        return f"{action}?{urllib.parse.urlencode(form.fields)}"
    m = _CONFIRM_LINK.search(page)
    if m:
        return f"{ep.drive}/uc?export=download&confirm={m.group(1)}&id={file_id}"
    return None


def page_problem(page: str) -> str:
    """Why Drive sent a page instead of the file, in a few words."""
    low = page.lower()
    if "quota" in low or "too many users" in low:
        return "Drive's download quota for this file is exhausted; try again in a day"
    if "sign in" in low or "access denied" in low or "need access" in low:
        return "the file is not public"
    return "Drive sent an HTML page instead of the file (removed file or a changed page)"


def start_download(
    opener: urllib.request.OpenerDirector, cookies: http.cookiejar.CookieJar, file_id: str,
    ep: DriveEndpoints, *, timeout: float,
) -> tuple[http.client.HTTPResponse, str]:
    """``(response streaming the file, its address)``, through the confirmation page if any."""
    url = f"{ep.drive}/uc?export=download&id={check_id(file_id, 'Drive file id')}"
    resp = open_url(opener, url, timeout=timeout)
    if not is_html(resp):
        return resp, url
    page = resp.read(MAX_PAGE).decode("utf-8", errors="replace")
    resp.close()
    real = confirm_url(page, resp.geturl() or url, file_id, cookies, ep)
    if real is None:
        raise SithError(f"cannot download Drive file {file_id}: {page_problem(page)}")
    resp = open_url(opener, real, timeout=timeout)
    if is_html(resp):
        page = resp.read(MAX_PAGE).decode("utf-8", errors="replace")
        resp.close()
        raise SithError(f"cannot download Drive file {file_id}: {page_problem(page)}")
    return resp, real


def content_total(resp: http.client.HTTPResponse, have: int) -> int | None:
    """The full size announced by a response (``Content-Range`` total, or offset + length)."""
    rng = resp.headers.get("Content-Range") or ""
    if "/" in rng and rng.rsplit("/", 1)[1].strip().isdigit():
        return int(rng.rsplit("/", 1)[1])
    length = resp.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def resumed_at(resp: http.client.HTTPResponse) -> int:
    """The offset a 206 answer starts at (0 for a full 200 answer)."""
    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range") or "")
    return int(m.group(1)) if resp.status == 206 and m else 0


def stream_into(resp: http.client.HTTPResponse, part: Path, offset: int, bar: tqdm) -> int:
    """Append the body to ``part`` from ``offset`` (truncating there); returns the bytes on disk.
    A dropped connection ends the loop early (the caller compares with the announced size)."""
    mode = "r+b" if offset and part.exists() else "wb"
    with open(part, mode) as fh:
        fh.seek(offset)
        fh.truncate()
        try:
            while block := resp.read(CHUNK):
                fh.write(block)
                bar.update(len(block))
        except (http.client.HTTPException, OSError):
            pass
        return fh.tell()


def open_from(opener: urllib.request.OpenerDirector, url: str, part: Path, have: int, *,
              timeout: float) -> http.client.HTTPResponse:
    """Ask for the bytes from ``have`` on; a server that cannot serve that range (416: the
    part file is complete or longer than the file) gets a fresh request, the part file dropped."""
    if not have:
        return open_url(opener, url, timeout=timeout)
    try:
        return open_url(opener, url, timeout=timeout, headers={"Range": f"bytes={have}-"})
    except HttpStatusError as exc:
        if exc.code != 416:
            raise
    part.unlink(missing_ok=True)
    return open_url(opener, url, timeout=timeout)


def download_file(file_id: str, dest: str | Path, *, endpoints: DriveEndpoints | None = None,
                  check: Callable[[Path], None] | None = None, retries: int = 3,
                  backoff_s: float = 1.0, timeout: float = TIMEOUT_S, progress: bool = True,
                  label: str | None = None) -> tuple[Path, str]:
    """Download Drive file ``file_id`` to ``dest`` (module doc); returns ``(dest, sha256 hex)``.

    ``check(part_path)`` raises :class:`SithError` for a file that is not what was expected
    (e.g. not a weights-only torch file); the part file is then deleted.
    """
    ep = endpoints or DriveEndpoints.from_env()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.part")
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    resp, url = start_download(opener, cookies, file_id, ep, timeout=timeout)
    have = part.stat().st_size if part.exists() else 0
    total: int | None = None
    bar = tqdm(unit="B", unit_scale=True, desc=label or dest.name, disable=not progress)
    try:
        for attempt in range(retries + 1):
            if resp is None or (have and attempt == 0):
                if resp is not None:
                    resp.close()
                try:
                    resp = open_from(opener, url, part, have, timeout=timeout)
                except SithError as exc:  # the host is gone or busy for now (5xx): retry
                    if (isinstance(exc, HttpStatusError) and exc.code < 500) or attempt == retries:
                        raise
                    time.sleep(backoff_s * (attempt + 1))
                    continue
                if is_html(resp):
                    page = resp.read(MAX_PAGE).decode("utf-8", "replace")
                    raise SithError(f"cannot download Drive file {file_id}: {page_problem(page)}")
            offset = resumed_at(resp) if have else 0
            total = content_total(resp, offset) or total
            bar.reset(total=total)
            bar.update(offset)
            have = stream_into(resp, part, offset, bar)
            resp.close()
            resp = None
            if total is None or have >= total:
                break
            if attempt < retries:
                time.sleep(backoff_s * (attempt + 1))
        else:
            raise SithError(
                f"download of {dest.name} (Drive file {file_id}) stopped at {have} of {total} bytes "
                f"after {retries + 1} tries; run the command again to resume"
            )
    finally:
        bar.close()
        if resp is not None:
            resp.close()
    verify_part(part, dest, file_id, total, check)
    sha = file_sha256(part)
    os.replace(part, dest)
    return dest, sha


def verify_part(part: Path, dest: Path, file_id: str, total: int | None,
                check: Callable[[Path], None] | None) -> None:
    """Size, not-HTML and the caller's check; on failure the part file is removed."""
    try:
        size = part.stat().st_size
        with open(part, "rb") as fh:
            head = fh.read(512).lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            raise SithError(
                f"Drive file {file_id} for {dest.name} arrived as an HTML page, not the file "
                "(quota, permission or a changed page); nothing was written, try again later"
            )
        if total is not None and size != total:
            raise SithError(
                f"{dest.name} (Drive file {file_id}) has {size} bytes, {total} were announced; "
                "nothing was written, run the command again"
            )
        if check is not None:
            check(part)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
