"""A local HTTP server that answers the way Google Drive does (issue 26), for offline tests.

Routes (one server plays both ``drive.google.com`` and ``drive.usercontent.google.com``):

* ``/embeddedfolderview?id=F`` — the embedded folder view page of folder ``F``;
* ``/uc?export=download&id=X[&confirm=T]`` — the file, or a confirmation page, by mode;
* ``/download?id=X&export=download&confirm=t&uuid=U`` — the usercontent host's download.

Per-file ``modes`` (default ``direct``): ``direct``; ``cookie`` (confirmation page + a
``download_warning_…`` cookie, then ``uc?…&confirm=TOKEN``); ``form`` (confirmation page
with the ``download-form`` to ``/download`` with ``uuid``); ``quota`` (a page without any
way on); ``html-body`` (an HTML page sent as ``application/octet-stream``). ``drops[X] = n``
makes the next ``n`` body answers of ``X`` stop halfway (connection closed); ``no_range``
ignores ``Range``. ``log`` records each request's path and ``Range`` header.
"""

from __future__ import annotations

import html
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "tok3n_ABC"
UUID = "0f0e-uuid-1234"
QUOTA_PAGE = (b"<!DOCTYPE html><html><body>Too many users have viewed or downloaded this file "
              b"recently.</body></html>")


@dataclass
class DriveState:
    folders: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    no_range: bool = False
    busy: dict[str, int] = field(default_factory=dict)  # next n resume requests answer 503
    log: list[tuple[str, str | None]] = field(default_factory=list)

    def add_folder(self, folder_id: str, entries: dict[str, bytes | str], *, prefix: str = "id") -> None:
        """A folder from ``{"a.pt": bytes, "sub/b.pt": bytes}`` (subfolders made as needed)."""
        for rel, data in entries.items():
            parent = folder_id
            parts = rel.split("/")
            for depth, part in enumerate(parts[:-1]):
                sub = f"{folder_id}-dir-{'-'.join(parts[:depth + 1])}".replace(".", "_")
                if (sub, part, True) not in self.folders.setdefault(parent, []):
                    self.folders[parent].append((sub, part, True))
                self.folders.setdefault(sub, [])
                parent = sub
            fid = f"{prefix}{abs(hash((folder_id, rel))) % 10**12:012d}x"
            self.folders.setdefault(parent, []).append((fid, parts[-1], False))
            self.files[fid] = data.encode() if isinstance(data, str) else data


def folder_page(entries: list[tuple[str, str, bool]]) -> bytes:
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
    return ('<!DOCTYPE html><html><head><title>folder</title></head><body>'
            f'<div class="flip-entries">{"".join(rows)}</div></body></html>').encode()


def confirm_page(kind: str, fid: str, base: str) -> bytes:
    if kind == "form":
        form = (f'<form id="download-form" action="{base}/download" method="get">'
                f'<input type="submit" id="uc-download-link" value="Download anyway"/>'
                f'<input type="hidden" name="id" value="{fid}">'
                f'<input type="hidden" name="export" value="download">'
                f'<input type="hidden" name="confirm" value="t">'
                f'<input type="hidden" name="uuid" value="{UUID}"></form>')
    else:
        form = "<p>Google Drive can't scan this file for viruses.</p>"
    return (f"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>"
            f"<body><p>file is too large for Google to scan for viruses.</p>{form}</body></html>").encode()


class Handler(BaseHTTPRequestHandler):
    state: DriveState  # set on the subclass per server

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def reply(self, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_file(self, fid: str) -> None:
        data = self.state.files[fid]
        if self.state.modes.get(fid) == "html-body":
            data = QUOTA_PAGE
        start = 0
        rng = self.headers.get("Range")
        if rng and self.state.busy.get(fid, 0) > 0:
            self.state.busy[fid] -= 1
            return self.reply(503, b"<html>busy</html>", "text/html")
        if rng and not self.state.no_range and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0])
        if start and start >= len(data):
            return self.reply(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", 'attachment; filename="f"')
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.state.drops.get(fid, 0) > 0:
            self.state.drops[fid] -= 1
            self.wfile.write(body[: max(1, len(body) // 2)])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urllib.parse.urlparse(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        self.state.log.append((self.path, self.headers.get("Range")))
        base = f"http://{self.headers.get('Host')}"
        fid = q.get("id", "")
        if url.path == "/embeddedfolderview":
            if fid not in self.state.folders:
                return self.reply(404, b"<html>Not found</html>", "text/html")
            return self.reply(200, folder_page(self.state.folders[fid]), "text/html; charset=utf-8")
        if url.path not in ("/uc", "/download") or fid not in self.state.files:
            return self.reply(404, b"<html>Not found</html>", "text/html")
        mode = self.state.modes.get(fid, "direct")
        if url.path == "/download":
            if q.get("uuid") != UUID or q.get("confirm") != "t":
                return self.reply(400, b"<html>bad request</html>", "text/html")
            return self.send_file(fid)
        if mode == "quota":
            return self.reply(200, QUOTA_PAGE, "text/html; charset=utf-8")
        if mode == "cookie" and q.get("confirm") != TOKEN:
            cookie = f"download_warning_13058876669334088843_{fid}={TOKEN}; Path=/"
            return self.reply(200, confirm_page("cookie", fid, base), "text/html; charset=utf-8",
                              {"Set-Cookie": cookie})
        if mode == "form":
            return self.reply(200, confirm_page("form", fid, base), "text/html; charset=utf-8")
        return self.send_file(fid)


class FakeDrive:
    """A running server; ``url`` is its base (what ``SITH_DRIVE_URL`` takes)."""

    def __init__(self) -> None:
        self.state = DriveState()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
