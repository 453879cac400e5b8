"""A minimal S3 endpoint on 127.0.0.1 for measuring the converter's own memory and speed.

moto holds every object in the Python process that asks for it, so the converter's resident
memory cannot be measured on moto. Here the converter runs in its own process with the real
boto3 client and streams over HTTP, as on Lambda; this server (in the benchmark's process)
streams objects from disk and writes uploads to disk.

Only what the converter uses is served: GetBucketVersioning (Enabled), GetObjectLockConfiguration
(none), GetObject (If-Match checked), GetObjectTagging and a conditional PutObject, and DynamoDB's
UpdateItem (the run ledger) answered with success and GetItem (the page's marker,
optimizer/trust.py) answered with a marker of one sent recording. Uploads go to a
separate file and do not replace the source, so one recording can be converted again and again to
time it; the If-Match condition is checked against the source's ETag.

Why not moto's ThreadedMotoServer (checked for issue 12): the child converts the *same* recording
`repeats` times in one process (a warm container, converter_child.py), with no hook between the
invocations; on moto the first conditional PutObject replaces the source with its A-law copy tagged
converted=True, so every later invocation would skip it and the warm timings would measure nothing.
moto also keeps every object in memory in the benchmark's process (a 4-hour source is 461 MB) and
its server is slower than this one: 200 MB took 1.73 s to PUT and 0.66 s to GET on moto 5.2.5's
server, 0.75 s and 0.53 s here (on this 2-core machine), time the converter would be charged for.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

_CHUNK = 1024 * 1024


@dataclass
class StoredObject:
    path: Path
    etag: str
    content_type: str = "audio/wav"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Upload:
    key: str
    bytes: int
    headers: dict[str, str]


class MiniS3:
    def __init__(self, bucket: str, upload_dir: Path) -> None:
        self.bucket = bucket
        self.upload_dir = upload_dir
        self.objects: dict[str, StoredObject] = {}
        self.uploads: list[Upload] = []
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add(self, key: str, path: Path, tags: dict[str, str] | None = None) -> StoredObject:
        md5 = hashlib.md5()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                md5.update(chunk)
        obj = StoredObject(path, f'"{md5.hexdigest()}"', tags=dict(tags or {}))
        self.objects[key] = obj
        return obj

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, operation: str) -> None:
        with self._lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1

    def __enter__(self) -> MiniS3:
        store = self

        class Handler(_Handler):
            s3 = store

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mini-s3", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and Expect: 100-continue as botocore sends it
    s3: MiniS3

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _key(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        path = parts.path.lstrip("/")
        host = (self.headers.get("Host") or "").split(":")[0]
        if host.startswith(self.s3.bucket + "."):  # virtual-hosted style
            key = path
        else:
            bucket, _, key = path.partition("/")
            if bucket != self.s3.bucket:
                return "", {}
        return unquote(key), parse_qs(parts.query, keep_blank_values=True)

    def _reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
        )
        self._reply(status, {"Content-Type": "application/xml"}, body.encode())

    def do_GET(self) -> None:  # noqa: N802
        key, query = self._key()
        if not key and "versioning" in query:
            self.s3.count("GetBucketVersioning")
            body = (
                b"<?xml version='1.0' encoding='UTF-8'?>"
                b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
            )
            self._reply(200, {"Content-Type": "application/xml"}, body)
            return
        if not key and "object-lock" in query:
            self.s3.count("GetObjectLockConfiguration")
            self._error(404, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist")
            return
        obj = self.s3.objects.get(key)
        if obj is None:
            self.s3.count("GetObject")
            self._error(404, "NoSuchKey", "The specified key does not exist.")
            return
        if "tagging" in query:
            self.s3.count("GetObjectTagging")
            tags = "".join(f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in obj.tags.items())
            body = f"<?xml version='1.0' encoding='UTF-8'?><Tagging><TagSet>{tags}</TagSet></Tagging>".encode()
            self._reply(200, {"Content-Type": "application/xml"}, body)
            return
        self.s3.count("GetObject")
        if self.headers.get("If-Match") not in (None, obj.etag):
            self._error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
            return
        size = obj.path.stat().st_size
        self.send_response(200)
        headers = {
            "Content-Type": obj.content_type,
            "Content-Length": str(size),
            "ETag": obj.etag,
            "Last-Modified": email.utils.formatdate(obj.path.stat().st_mtime, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        if obj.tags:
            headers["x-amz-tagging-count"] = str(len(obj.tags))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with open(obj.path, "rb") as f:
            while chunk := f.read(_CHUNK):
                self.wfile.write(chunk)

    def do_PUT(self) -> None:  # noqa: N802
        key, _ = self._key()
        self.s3.count("PutObject")
        obj = self.s3.objects.get(key)
        written = self._receive_body(self.s3.upload_dir / "upload.bin")
        if obj is None:
            self._error(404, "NoSuchKey", "not a key of this benchmark")
            return
        condition = self.headers.get("If-Match")
        if condition is not None and condition != obj.etag:
            self._error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
            return
        self.s3.uploads.append(Upload(key, written, {k.lower(): v for k, v in self.headers.items()}))
        self._reply(200, {"ETag": f'"{hashlib.md5(str(written).encode()).hexdigest()}"'})

    def do_POST(self) -> None:  # noqa: N802 - DynamoDB (JSON protocol): the ledger's writes
        target = self.headers.get("X-Amz-Target") or ""
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        operation = target.rsplit(".", 1)[-1] or "POST"
        self.s3.count(operation)
        if target.startswith("DynamoDB_") and operation in ("UpdateItem", "TransactWriteItems"):
            self._reply(200, {"Content-Type": "application/x-amz-json-1.0"}, b"{}")
        elif target.startswith("DynamoDB_") and operation == "GetItem":  # the page's marker: one sent
            marker = {"Item": {"sent": {"S": "1"}}}
            self._reply(200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(marker).encode())
        else:
            self._reply(
                400,
                {"Content-Type": "application/x-amz-json-1.0"},
                json.dumps({"__type": "UnknownOperationException", "message": target}).encode(),
            )

    def _receive_body(self, target: Path) -> int:
        """Writes the request body to `target`; aws-chunked bodies are decoded."""
        length = int(self.headers.get("Content-Length") or 0)
        chunked = "aws-chunked" in (self.headers.get("Content-Encoding") or "")
        written = 0
        with open(target, "wb") as out:
            if not chunked:
                remaining = length
                while remaining:
                    chunk = self.rfile.read(min(_CHUNK, remaining))
                    if not chunk:
                        break
                    out.write(chunk)
                    remaining -= len(chunk)
                    written += len(chunk)
                return written
            while True:  # <hex size>[;chunk-signature=...]\r\n<data>\r\n ... 0\r\n<trailers>\r\n\r\n
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return written
                remaining = size
                while remaining:
                    chunk = self.rfile.read(min(_CHUNK, remaining))
                    out.write(chunk)
                    remaining -= len(chunk)
                    written += len(chunk)
                self.rfile.readline()


def scratch_size(path: Path) -> int:
    """Bytes of the files under `path` right now (for the peak of the converter's /tmp)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # removed while we walk
                total += os.stat(os.path.join(root, name)).st_size
    return total
