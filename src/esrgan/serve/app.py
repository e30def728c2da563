"""The web application: the page, and a small JSON API under /api that names everything by ids it made.

Safety, by construction: the browser sends image bytes and model names, never a path (uploads and results
live in the server's own folder under random ids); an upload is cut off past `max_bytes` and decoded with
the pixel limit of `esrgan upscale`; requests whose Host is not this server's are refused (DNS rebinding),
and every request that changes something must carry the `X-Esrgan-Page` header, which a page of another
site cannot send here without a CORS permission this server never gives.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zipfile
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from esrgan.errors import EsrganError
from esrgan.imaging.io import read_image
from esrgan.options import UpscaleOptions, check_outscale
from esrgan.serve.catalogue import Catalogue
from esrgan.serve.engine import Engine, Preview, Region, visible_niqe
from esrgan.serve.jobs import Job, Worker
from esrgan.serve.pictures import bicubic, display_png, thumbnail
from esrgan.serve.uploads import Upload, Uploads, UploadTooLargeError, display_name

PAGE_HEADER = "x-esrgan-page"
EVENT_INTERVAL = 0.15
"""Seconds between looks at the jobs for the event stream: tile progress reaches the page this often."""
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; connect-src 'self' blob:; style-src 'self'; script-src 'self'; "
     b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class Service:
    """The server's state behind the routes: models, uploads, the worker, and the folder of its files."""

    def __init__(self, catalogue: Catalogue, options: UpscaleOptions, folder: Path, max_bytes: int,
                 max_pixels: int | None) -> None:
        self.catalogue = catalogue
        self.uploads = Uploads(folder, max_bytes, max_pixels)
        self.worker = Worker(Engine(catalogue, options), folder)
        self.folder = folder
        self.stopping = threading.Event()
        """Set when the server begins to stop: the event streams end, so their connections close at once."""

    def upload(self, upload_id: object) -> Upload:
        try:
            return self.uploads.get(str(upload_id))
        except KeyError:
            raise HTTPException(404, "unknown image: upload it again (the server keeps the latest uploads, "
                                     "and forgets them when it stops)") from None

    def job(self, job_id: str) -> Job:
        try:
            return self.worker.job(job_id)
        except KeyError:
            raise HTTPException(404, "unknown job: run it again") from None

    def finished(self, job_id: str) -> tuple[Job, Path]:
        job = self.job(job_id)
        if job.result is None or not job.result.is_file():
            raise HTTPException(409, f"job {job_id} has no result ({job.state})")
        return job, job.result

    # --- routes -------------------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return FileResponse(Path(__file__).parent / "static" / "index.html", media_type="text/html")

    async def models(self, request: Request) -> Response:
        return JSONResponse({**self.catalogue.to_json(), "max_bytes": self.uploads.max_bytes,
                             "max_pixels": self.uploads.max_pixels})

    async def receive_upload(self, request: Request) -> Response:
        _check_page(request)
        name = display_name(request.query_params.get("name", ""))
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.uploads.max_bytes:
            raise self.uploads.too_large(name, int(declared))
        upload_id, received = self.uploads.incoming()
        try:
            size = 0
            with received.open("wb") as handle:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.uploads.max_bytes:
                        raise self.uploads.too_large(name, size)
                    handle.write(chunk)
            upload = await run_in_threadpool(self.uploads.add, upload_id, name, received)
        finally:
            received.unlink(missing_ok=True)
        return JSONResponse({"id": upload.id, "name": upload.name, "width": upload.width,
                             "height": upload.height})

    async def thumbnail(self, request: Request) -> Response:
        upload = self.upload(request.path_params["image"])
        return _png(await run_in_threadpool(thumbnail, upload.image))

    async def bicubic(self, request: Request) -> Response:
        upload = self.upload(request.path_params["image"])
        scale = _outscale(request.query_params.get("scale"))
        if scale is None:
            raise HTTPException(400, "the bicubic view needs ?scale=S")
        width, height = round(upload.width * scale), round(upload.height * scale)
        return _png(await run_in_threadpool(bicubic, upload.image, width, height))

    async def submit(self, request: Request) -> Response:
        _check_page(request)
        body = await _json(request)
        upload = self.upload(body.get("image"))
        network = self.catalogue.network(body.get("model"), body.get("blend"), body.get("alpha", 1.0))
        job = self.worker.submit(upload, network, _outscale(body.get("outscale")))
        return JSONResponse({"id": job.id})

    async def cancel(self, request: Request) -> Response:
        _check_page(request)
        try:
            job = self.worker.cancel(request.path_params["job"])
        except KeyError:
            raise HTTPException(404, "unknown job") from None
        return JSONResponse({"id": job.id, "state": job.state})

    async def events(self, request: Request) -> Response:
        """Server-sent events: the jobs that changed since the last message, and the queue's size."""
        async def stream() -> AsyncIterator[str]:
            sent: dict[str, dict[str, Any]] = {}
            seen = -1
            while not self.stopping.is_set():
                version, jobs, queue = self.worker.snapshot()
                if version != seen:
                    changed = [job for job in jobs if sent.get(job["id"]) != job]
                    sent = {job["id"]: job for job in jobs}
                    seen = version
                    yield f"data: {json.dumps({'jobs': changed, 'queue': queue})}\n\n"
                await asyncio.sleep(EVENT_INTERVAL)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})

    async def result(self, request: Request) -> Response:
        job, path = self.finished(request.path_params["job"])
        download = request.query_params.get("download") == "1"
        return FileResponse(path, media_type="image/png", filename=job.download_name,
                            content_disposition_type="attachment" if download else "inline")

    async def result_niqe(self, request: Request) -> Response:
        """NIQE of the part of a result the viewer shows (output pixels)."""
        _, path = self.finished(request.path_params["job"])
        region = Region.parse({key: _number(request.query_params.get(key))
                               for key in ("x", "y", "width", "height")})
        return JSONResponse({"niqe": await run_in_threadpool(_niqe_of_region, path, region)})

    async def preview(self, request: Request) -> Response:
        """The network on the visible part of an image (as much of it as the time budget allows), as a PNG
        whose place in the output is in the `X-Region` header."""
        _check_page(request)
        body = await _json(request)
        upload = self.upload(body.get("image"))
        network = self.catalogue.network(body.get("model"), body.get("blend"), body.get("alpha", 1.0))
        outscale = _outscale(body.get("outscale"))
        view = Region.parse(body.get("region"))
        future: Future[Preview] = self.worker.preview(
            lambda engine: engine.preview(upload.image, network, outscale, view))
        shown = await asyncio.wrap_future(future)
        png = await run_in_threadpool(display_png, shown.patch)
        score = await run_in_threadpool(visible_niqe, shown.patch) if body.get("niqe") else None
        region = shown.region
        return _png(png, {"x-region": f"{region.x},{region.y},{region.width},{region.height}",
                          "x-niqe": "" if score is None else f"{score:.3f}",
                          "x-seconds": f"{shown.seconds:.3f}"})

    async def archive(self, request: Request) -> Response:
        """The results of the jobs listed in `?jobs=a,b,c` as one zip (PNG inside is stored, not deflated)."""
        ids = [i for i in request.query_params.get("jobs", "").split(",") if i]
        if not ids:
            raise HTTPException(400, "no jobs named: ?jobs=ID,ID")
        files = [self.finished(i) for i in ids]
        target = self.folder / f"archive-{ids[0]}-{len(ids)}.zip"
        await run_in_threadpool(_write_zip, target, [(job.download_name, path) for job, path in files])
        return FileResponse(target, media_type="application/zip", filename="esrgan-results.zip",
                            background=BackgroundTask(target.unlink, missing_ok=True))

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", self.index),
            Route("/api/models", self.models),
            Route("/api/images", self.receive_upload, methods=["POST"]),
            Route("/api/images/{image}/thumbnail.png", self.thumbnail),
            Route("/api/images/{image}/bicubic.png", self.bicubic),
            Route("/api/jobs", self.submit, methods=["POST"]),
            Route("/api/jobs/{job}", self.cancel, methods=["DELETE"]),
            Route("/api/jobs/{job}/result.png", self.result),
            Route("/api/jobs/{job}/niqe", self.result_niqe),
            Route("/api/events", self.events),
            Route("/api/preview", self.preview, methods=["POST"]),
            Route("/api/results.zip", self.archive),
            Mount("/static", StaticFiles(packages=[("esrgan.serve", "static")]), name="static"),
        ]


def create_app(catalogue: Catalogue, options: UpscaleOptions, folder: Path, *, max_bytes: int,
               max_pixels: int | None, allowed_hosts: Sequence[str]) -> tuple[Starlette, Service]:
    """The ASGI app and the service behind it (whose `worker.close()` stops the model thread)."""
    service = Service(catalogue, options, folder, max_bytes, max_pixels)
    app = Starlette(
        routes=service.routes(),
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
                    Middleware(SecurityHeaders)],
        exception_handlers={EsrganError: _error, HTTPException: _error},
    )
    return app, service


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response: the page runs only its own script and is never framed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


async def _error(request: Request, error: Exception) -> Response:
    """Every refusal as {"error": one line} with a status the page can show as it is."""
    if isinstance(error, HTTPException):
        return JSONResponse({"error": error.detail}, status_code=error.status_code)
    status = 413 if isinstance(error, UploadTooLargeError) else 400
    return JSONResponse({"error": str(error)}, status_code=status)


def _check_page(request: Request) -> None:
    if request.headers.get(PAGE_HEADER) != "1":
        raise HTTPException(403, f"requests that change something come from the page (header {PAGE_HEADER})")


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the request body must be a JSON object")
    return body


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _outscale(value: object) -> float | None:
    """The page's final scale, checked as `--outscale` is; none given is the network's own (None)."""
    if value is None or value == "":
        return None
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else _number(str(value))
    if number is None:
        raise HTTPException(400, f"the scale must be a number, not {value!r}")
    return check_outscale(float(number))


def _png(data: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(data, media_type="image/png", headers={"cache-control": "no-store", **(headers or {})})


def _niqe_of_region(path: Path, region: Region) -> float | None:
    image = read_image(path, max_pixels=None)
    region = region.within(image.shape[1], image.shape[0])
    crop: np.ndarray = image[region.y: region.y + region.height, region.x: region.x + region.width]
    return visible_niqe(crop)


def _write_zip(target: Path, files: list[tuple[str, Path]]) -> None:
    names: set[str] = set()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for name, path in files:
            stem, suffix, count = Path(name).stem, Path(name).suffix, 1
            while name in names:
                count += 1
                name = f"{stem} ({count}){suffix}"
            names.add(name)
            archive.write(path, name)
