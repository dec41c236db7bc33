"""Listing a public Google Drive folder through its embedded folder view (issue 26).

``{drive}/embeddedfolderview?id=FOLDER`` is a plain HTML page with one
``<div class="flip-entry" id="entry-ID">`` per child, holding a link (``…/file/d/ID/view``
for a file, ``…/drive/folders/ID`` for a folder) and a
``<div class="flip-entry-title">NAME</div>`` (:func:`parse_folder_view`). Subfolders are
listed recursively (:func:`list_folder`), up to ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser

from sith.errors import SithError
from sith.resources.drive import TIMEOUT_S, DriveEndpoints, check_id, open_url

MAX_PAGE = 4 << 20  # bytes of a listing page read at most
MAX_DEPTH = 4
_FOLDER_LINK = re.compile(r"/(?:drive/)?folders/([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class DriveEntry:
    """One child of a folder: its id, its name, whether it is a folder, its path in the tree."""

    id: str
    name: str
    is_folder: bool
    path: str = ""


class _FolderViewParser(HTMLParser):
    """Collects ``(id, name, is_folder)`` from an embedded folder view page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.entries: list[DriveEntry] = []
        self._id: str | None = None
        self._folder = False
        self._in_title = False
        self._title: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "div" and "flip-entry" in classes and a.get("id", "").startswith("entry-"):
            self._flush()
            self._id, self._folder, self._title = a["id"][len("entry-"):], False, []
        elif tag == "a" and self._id is not None and _FOLDER_LINK.search(a.get("href", "")):
            self._folder = True
        elif tag == "div" and "flip-entry-title" in classes and self._id is not None:
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._in_title:
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)

    def _flush(self) -> None:
        name = "".join(self._title).strip()
        if self._id and name:
            self.entries.append(DriveEntry(self._id, name, self._folder))
        self._id = None

    def close(self) -> None:
        super().close()
        self._flush()


def parse_folder_view(html: str) -> list[DriveEntry]:
    """The children listed by an embedded folder view page, in page order."""
    parser = _FolderViewParser()
    parser.feed(html)
    parser.close()
    return parser.entries


def safe_name(name: str) -> str:
    """A listed name usable as one path component (Drive names may hold anything)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise SithError(f"Drive listed an unusable file name {name!r}; download that file by hand")
    return name


def list_folder(folder_id: str, *, endpoints: DriveEndpoints | None = None, timeout: float = TIMEOUT_S,
                prefix: str = "", depth: int = 0) -> list[DriveEntry]:
    """Every file under a public folder (subfolders recursively), ``path`` relative to it."""
    ep = endpoints or DriveEndpoints.from_env()
    url = f"{ep.drive}/embeddedfolderview?id={check_id(folder_id, 'Drive folder id')}"
    opener = urllib.request.build_opener()
    with open_url(opener, url, timeout=timeout) as resp:
        page = resp.read(MAX_PAGE).decode("utf-8", errors="replace")
    entries = parse_folder_view(page)
    if not entries and "flip-entries" not in page:
        raise SithError(
            f"Drive folder {folder_id} gave no file list ({url}: not a folder view; private, "
            "removed, or Drive changed its page); open it in a browser to check"
        )
    out: list[DriveEntry] = []
    for e in entries:
        rel = f"{prefix}{safe_name(e.name)}"
        if not e.is_folder:
            out.append(DriveEntry(e.id, e.name, False, rel))
        elif depth < MAX_DEPTH:
            out += list_folder(e.id, endpoints=ep, timeout=timeout, prefix=rel + "/", depth=depth + 1)
    return out
