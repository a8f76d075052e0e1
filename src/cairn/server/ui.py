"""The web UI: static files from the `cairn/ui` package folder, plus plotly's bundle.

`/` answers `index.html`; `/static/<name>` answers a file of that folder, chosen from the
files present when the app is built (a name is looked up, never joined to a path), and
`/static/vendor/plotly.min.js` answers the bundle shipped inside the installed `plotly`
package, so no third-party code lives in this repository. `/favicon.ico` answers the SVG
icon, for browsers and tools that ask for it without reading the page. Every answer carries
a strict Content-Security-Policy: scripts only from this origin, none inline, no `eval`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

UI_FOLDER = Path(__file__).resolve().parent.parent / "ui"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Plotly sets inline styles (and <style> elements) on the charts it draws: styles may be
# inline, scripts may not. Artifact previews are same-origin; images may also be data: URLs.
# A PDF preview is a frame of a blob: URL (artifacts.js: the download endpoint answers every
# artifact as an attachment, which a frame would only download), so frames may also be blob:
# URLs. Only this origin's scripts can make those, and the UI makes only PDFs, typed so; a
# blob: document keeps this policy, and plugins (object-src) stay off.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def plotly_bundle() -> Path | None:
    """`plotly.min.js` inside the installed plotly package, or None without plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        bundle = Path(folder) / "package_data" / "plotly.min.js"
        if bundle.is_file():
            return bundle
    return None


def _files(folder: Path) -> dict[str, Path]:
    return {
        p.relative_to(folder).as_posix(): p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in _MEDIA_TYPES
    }


def _file(request: Request, path: Path, media_type: str) -> Response:
    """The file, or 304 Not Modified when the browser's copy is current: answers carry
    `no-cache`, so the browser asks again each time, and a 304 lets it keep its copy (and
    Chromium its compiled code: plotly.min.js costs over a second to compile here)."""
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {**_HEADERS, "ETag": etag}
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers, stat_result=stat)


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def routes(folder: Path = UI_FOLDER) -> list[BaseRoute]:
    """The UI's routes over the files in `folder` (read once, now)."""
    files = _files(folder)
    bundle = plotly_bundle()

    async def index(request: Request) -> Response:
        return _file(request, files["index.html"], _MEDIA_TYPES[".html"])

    async def favicon(request: Request) -> Response:
        return _file(request, files["favicon.svg"], _MEDIA_TYPES[".svg"])

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "vendor/plotly.min.js" and bundle is not None:
            return _file(request, bundle, _MEDIA_TYPES[".js"])
        found = files.get(name)
        if found is None:
            return PlainTextResponse("Not found", status_code=404, headers=_HEADERS)
        return _file(request, found, _MEDIA_TYPES[found.suffix])

    return [
        Route("/", index, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/static/{name:path}", static, methods=["GET"]),
    ]
