"""Google Drive's answers, mocked with ``responses`` for offline tests (gdown talks to it).

Hosts and routes (every other address raises ``ConnectionError``, as an unreachable host):

* ``drive.google.com/embeddedfolderview?id=F`` — the embedded folder view page of folder ``F``
  (titled with the folder's name, which gdown reads for subfolders);
* ``drive.google.com/uc?id=X`` — the file, or a confirmation page, by mode;
* ``docs.google.com/uc?export=download&confirm=T&id=X`` — the link of the older page style;
* ``drive.usercontent.google.com/download?id=X&export=download&confirm=t&uuid=U`` — the
  address of the current page's ``download-form``.

Per-file ``modes`` (default ``direct``): ``direct``; ``link`` (a "can't scan for viruses"
page with a ``confirm=`` link); ``form`` (the page with the ``download-form``); ``quota``
(Drive's error page without any way on); ``html-body`` (an HTML page sent as a file).
``drops[X] = n`` makes the next ``n`` body answers of ``X`` stop halfway (the announced
length is not reached); ``no_range`` ignores ``Range``. ``log`` records each request's path
and ``Range`` header.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from dataclasses import dataclass, field

import responses

TOKEN = "tok3n_ABC"
UUID = "0f0e-uuid-1234"
QUOTA_PAGE = (b'<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>'
              b'<p class="uc-error-subcaption">Too many users have viewed or downloaded this file '
              b"recently.</p></body></html>")
HTML = "text/html; charset=utf-8"


@dataclass
class DriveState:
    folders: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # folder id -> its name (the page title)
    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    no_range: bool = False
    log: list[tuple[str, str | None]] = field(default_factory=list)

    def add_folder(self, folder_id: str, entries: dict[str, bytes | str], *, prefix: str = "id") -> None:
        """A folder from ``{"a.pt": bytes, "sub/b.pt": bytes}`` (subfolders made as needed).
        Ids are 28+ characters, as Drive's are (gdown reads links of 25 or more)."""
        for rel, data in entries.items():
            parent = folder_id
            parts = rel.split("/")
            for depth, part in enumerate(parts[:-1]):
                sub = f"{folder_id}-dir-{'-'.join(parts[:depth + 1])}".replace(".", "_").ljust(28, "0")
                if (sub, part, True) not in self.folders.setdefault(parent, []):
                    self.folders[parent].append((sub, part, True))
                self.folders.setdefault(sub, [])
                self.names[sub] = part
                parent = sub
            fid = f"{prefix}{abs(hash((folder_id, rel))) % 10**12:024d}x"
            self.folders.setdefault(parent, []).append((fid, parts[-1], False))
            self.files[fid] = data.encode() if isinstance(data, str) else data


def folder_page(title: str, entries: list[tuple[str, str, bool]]) -> str:
    rows = []
    for fid, name, is_folder in entries:
        href = (f"https://drive.google.com/drive/folders/{fid}" if is_folder
                else f"https://drive.google.com/file/d/{fid}/view?usp=drive_web")
        rows.append(
            f'<div class="flip-entry" id="entry-{fid}" tabindex="0" role="link">'
            f'<div class="flip-entry-info"><a href="{href}" target="_blank">'
            f'<div class="flip-entry-list-icon"><img src="x.png"></div>'
            f'<div class="flip-entry-title">{html.escape(name)}</div></a></div>'
            f'<div class="flip-entry-last-modified"><div>Mar 3</div></div></div>'
        )
    return (f'<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head><body>'
            f'<div class="flip-entries">{"".join(rows)}</div></body></html>')


def confirm_page(kind: str, fid: str) -> str:
    if kind == "form":
        way = ('<form id="download-form" action="https://drive.usercontent.google.com/download" '
               'method="get"><input type="submit" id="uc-download-link" value="Download anyway"/>'
               f'<input type="hidden" name="id" value="{fid}">'
               '<input type="hidden" name="export" value="download">'
               '<input type="hidden" name="confirm" value="t">'
               f'<input type="hidden" name="uuid" value="{UUID}"></form>')
    else:
        way = f'<a id="uc-download-link" href="/uc?export=download&amp;confirm={TOKEN}&amp;id={fid}">x</a>'
    return ("<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>"
            f"<body><p>This file is too large for Google to scan for viruses.</p>\n{way}\n</body></html>")


class FakeDrive:
    """``responses`` callbacks over a :class:`DriveState`; :meth:`start` / :meth:`stop`."""

    def __init__(self) -> None:
        self.state = DriveState()
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        for host in ("drive.google.com", "docs.google.com", "drive.usercontent.google.com"):
            self.mock.add_callback(responses.GET, re.compile(rf"https://{re.escape(host)}/.*"),
                                   callback=self.answer)

    def start(self) -> FakeDrive:
        self.mock.start()
        return self

    def stop(self) -> None:
        self.mock.stop()
        self.mock.reset()

    def answer(self, request) -> tuple[int, dict[str, str], bytes | str]:
        url = urllib.parse.urlparse(request.url)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        rng = request.headers.get("Range")
        self.state.log.append((request.path_url, rng))
        fid = q.get("id", "")
        if url.path == "/embeddedfolderview":
            if fid not in self.state.folders:
                return 404, {"Content-Type": HTML}, "<html><title>Not found</title></html>"
            page = folder_page(self.state.names.get(fid, "folder"), self.state.folders[fid])
            return 200, {"Content-Type": HTML}, page
        if url.path not in ("/uc", "/download") or fid not in self.state.files:
            return 404, {"Content-Type": HTML}, "<html><head><title>Not found</title></head></html>"
        mode = self.state.modes.get(fid, "direct")
        if url.path == "/download":
            if q.get("uuid") != UUID or q.get("confirm") != "t":
                return 400, {"Content-Type": HTML}, "<html>bad request</html>"
            return self.send_file(fid, rng)
        if mode == "quota":
            return 200, {"Content-Type": HTML}, QUOTA_PAGE
        if mode in ("link", "form") and q.get("confirm") != TOKEN:
            return 200, {"Content-Type": HTML}, confirm_page(mode, fid)
        return self.send_file(fid, rng)

    def send_file(self, fid: str, rng: str | None) -> tuple[int, dict[str, str], bytes]:
        data = QUOTA_PAGE if self.state.modes.get(fid) == "html-body" else self.state.files[fid]
        start = 0
        if rng and not self.state.no_range and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0])
        if start and start >= len(data):
            return 416, {"Content-Type": "text/plain", "Content-Range": f"bytes */{len(data)}"}, b""
        body = data[start:]
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Disposition": 'attachment; filename="f"', "Content-Length": str(len(body))}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if self.state.drops.get(fid, 0) > 0:
            self.state.drops[fid] -= 1
            body = body[: max(1, len(body) // 2)]
        return (206 if start else 200), headers, body
