"""The publish step both engines share: a run writes under a temporary prefix
(`_diep_tmp/<run id>/`, at the bucket's root on S3, which query engines skip), and only
a finished, checked run's files are moved into place, named and partitioned one way
whichever engine wrote them. A failure before that leaves nothing in the destination.

Storage is pyarrow's filesystems (etl.storage): local paths and S3 alike, so the same
code is tested on both and on the moto server.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyarrow import fs

from etl.errors import EtlError
from etl.semantics import canonical_partition_path

TEMP_DIR = "_diep_tmp"
# Output files hold at most this many rows (about 4 M: tens to hundreds of MB), on
# either engine; a partition with more is split into several files.
MAX_ROWS_PER_FILE = 8 * 512 * 1024


@dataclass
class Written:
    files: list[str] = field(default_factory=list)  # relative to the destination
    bytes: int = 0
    partitions: set[str] = field(default_factory=set)


def check_partition_columns(columns: Sequence[str], partition_by: Sequence[str]) -> None:
    """Every partition column is in the output, and at least one column is left for the
    files themselves (a file of no columns holds nothing Athena or Spark can read)."""
    for name in partition_by:
        if name not in columns:
            raise EtlError(f"partition_by: column {name!r} is not in the output.")
    if partition_by and set(columns) <= set(partition_by):
        raise EtlError(
            "partition_by names every output column; leave at least one column in the files."
        )


def temp_prefix(filesystem: fs.FileSystem, destination: str, run_id: str) -> str:
    """Where a run writes before it publishes."""
    if isinstance(filesystem, fs.LocalFileSystem):
        return posixpath.join(destination, TEMP_DIR, run_id)
    # At the bucket's root, not under the dataset: pyarrow's S3 moves and deletes leave
    # empty "directory" marker objects behind, which must not appear among its files.
    bucket = destination.split("/", 1)[0]
    return posixpath.join(bucket, TEMP_DIR, run_id)


def is_data_file(relative: str) -> bool:
    """Not a marker, checksum or hidden file (`_SUCCESS`, `.part-0.crc`, `_temporary/`)."""
    return not any(part.startswith(("_", ".")) for part in relative.split("/"))


def written_files(filesystem: fs.FileSystem, temp: str) -> Written:
    """What a writer left under `temp`, its data files only."""
    written = Written()
    selector = fs.FileSelector(temp, recursive=True, allow_not_found=True)
    for info in filesystem.get_file_info(selector):
        relative = posixpath.relpath(info.path, temp)
        if info.type == fs.FileType.File and is_data_file(relative):
            written.files.append(relative)
            written.bytes += info.size or 0
    written.files.sort()
    written.partitions = {posixpath.dirname(path) for path in written.files}
    return written


# Moves one written file to its final path and returns the bytes it holds there.
Place = Callable[[str, str], int]


def publish(
    filesystem: fs.FileSystem,
    *,
    temp: str,
    destination: str,
    run_id: str,
    written: Written,
    overwrite: bool,
    extension: str,
    place: Place | None = None,
) -> Written:
    """Move the run's files into place as `<partition>/part-<run id>-<n>.<extension>`.
    New files first, then (overwrite) the earlier files of the partitions it touched: an
    interruption can leave both versions for a moment, never neither."""
    move = place or _mover(filesystem)
    partitions = {canonical_partition_path(p) for p in written.partitions}
    published = Written(partitions=partitions)
    previous = _existing(filesystem, destination, partitions) if overwrite else []
    counters: dict[str, int] = {}
    for relative in written.files:
        partition = canonical_partition_path(posixpath.dirname(relative))
        number = counters[partition] = counters.get(partition, -1) + 1
        target_relative = posixpath.join(partition, f"part-{run_id}-{number}.{extension}")
        target = posixpath.join(destination, target_relative)
        if isinstance(filesystem, fs.LocalFileSystem):
            filesystem.create_dir(posixpath.dirname(target), recursive=True)
        published.bytes += move(posixpath.join(temp, relative), target)
        published.files.append(target_relative)
    for path in previous:
        filesystem.delete_file(path)
    discard(filesystem, temp)
    return published


def discard(filesystem: fs.FileSystem, temp: str) -> None:
    """Remove the temporary prefix (a failed or stopped run leaves nothing)."""
    try:
        filesystem.delete_dir(temp)
        parent = posixpath.dirname(temp)
        local = isinstance(filesystem, fs.LocalFileSystem)
        if local and not filesystem.get_file_info(fs.FileSelector(parent)):
            filesystem.delete_dir(parent)
    except OSError:
        pass  # nothing was written, or another run is using the parent


def _mover(filesystem: fs.FileSystem) -> Place:
    def move(source: str, target: str) -> int:
        filesystem.move(source, target)
        return filesystem.get_file_info(target).size or 0

    return move


def _existing(filesystem: fs.FileSystem, destination: str, partitions: set[str]) -> list[str]:
    paths = []
    for partition in partitions:
        directory = posixpath.normpath(posixpath.join(destination, partition))
        selector = fs.FileSelector(directory, recursive=False, allow_not_found=True)
        for info in filesystem.get_file_info(selector):
            name = posixpath.basename(info.path)
            if info.type == fs.FileType.File and not name.startswith(("_", ".")):
                paths.append(info.path)
    return paths
