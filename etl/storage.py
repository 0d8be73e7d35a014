"""Where the ETL reads and writes: S3 (any endpoint, so the moto server works) or local
paths, both through pyarrow's filesystems so every reader and writer is the same code."""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pyarrow import fs

from etl.contract import ContractError, Manifest
from etl.errors import EtlError


@dataclass(frozen=True)
class Storage:
    """How to reach S3: the endpoint (None = AWS) and region. Credentials come from the
    usual AWS chain (environment, profile, instance or Glue role), never from here."""

    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def from_environment(cls) -> Storage:
        return cls(
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        )

    def resolve(self, uri: str) -> tuple[fs.FileSystem, str]:
        """The filesystem and the path within it for `uri` (s3://bucket/key, file:///x or
        a local path)."""
        if uri.startswith("s3://"):
            parts = urlsplit(uri)
            return self._s3(), f"{parts.netloc}{parts.path}".rstrip("/")
        if uri.startswith("file://"):
            uri = urlsplit(uri).path
        return fs.LocalFileSystem(), os.path.abspath(uri)

    def _s3(self) -> fs.S3FileSystem:
        options: dict[str, object] = {"region": self.region or "us-east-1"}
        if self.endpoint_url:
            endpoint = urlsplit(self.endpoint_url)
            options["endpoint_override"] = endpoint.netloc
            options["scheme"] = endpoint.scheme or "https"
        # Directory markers and bucket creation are not the ETL's business: S3 has no
        # directories, and buckets are provisioned.
        return fs.S3FileSystem(check_directory_existence_before_creation=False, **options)

    def read_json(self, uri: str) -> object:
        """A small JSON document (a manifest or a job spec)."""
        filesystem, path = self.resolve(uri)
        try:
            with filesystem.open_input_stream(path) as stream:
                return json.loads(stream.read())
        except (OSError, ValueError) as exc:
            raise EtlError(f"Cannot read {uri}: {exc}") from exc


_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class InputFile:
    uri: str
    size: int | None = None
    modified: datetime | None = None


def list_inputs(
    storage: Storage, prefix_uri: str, *, newer_than: datetime | None
) -> list[InputFile]:
    """The data files under a source prefix (oldest first), without markers, hidden files
    (`_SUCCESS`, `.keep`) or DIEP's own temporary output; with `newer_than` (a
    bookmark), only files modified after it."""
    filesystem, base = storage.resolve(prefix_uri)
    selector = fs.FileSelector(base, recursive=True, allow_not_found=True)
    try:
        single = filesystem.get_file_info(base)
        # A source may name one object rather than a prefix.
        infos = [single] if single.type == fs.FileType.File else filesystem.get_file_info(selector)
    except OSError as exc:
        raise EtlError(f"Cannot list {prefix_uri}: {exc}") from exc
    scheme = "s3://" if prefix_uri.startswith("s3://") else ""
    files = []
    for info in infos:
        if info.type != fs.FileType.File or info.size == 0:
            continue
        relative = info.path[len(base) :].lstrip("/") or posixpath.basename(info.path)
        if any(part.startswith(("_", ".")) for part in relative.split("/")):
            continue
        modified = info.mtime
        if newer_than is not None and modified is not None and modified <= newer_than:
            continue
        files.append(InputFile(uri=f"{scheme}{info.path}", size=info.size, modified=modified))
    # Files without a modification time sort first; aware, as the others are (a naive
    # minimum beside aware times would make the sort raise).
    return sorted(files, key=lambda f: (f.modified or _EARLIEST, f.uri))


def manifest_inputs(storage: Storage, manifest_uri: str) -> list[InputFile]:
    """The files a coalesced run was given (its etl.contract.Manifest)."""
    try:
        manifest = Manifest.from_json(storage.read_json(manifest_uri), where=manifest_uri)
    except ContractError as exc:
        raise EtlError(str(exc)) from exc
    return [InputFile(uri=entry.uri, size=entry.size) for entry in manifest.files]
