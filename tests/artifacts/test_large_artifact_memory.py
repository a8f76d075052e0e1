"""A 200 MiB artifact goes up and comes back through each repository in a child process
whose peak resident memory stays far below the file's size: transfers stream."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.s3 import MULTIPART_CHUNKSIZE, S3ArtifactRepository
from cairn.entities import FileInfo

MIB = 1024 * 1024
CHUNK = 8 * MIB
SIZE = 200 * MIB
PEAK_LIMIT = 120 * MIB  # the child's whole peak RSS, interpreter and boto3 included
GROWTH_LIMIT = 48 * MIB  # its peak over its own footprint before the first transfer

# Run in the child: build the repository from its URI, note VmHWM (peak RSS), upload,
# download, note VmHWM again; print the numbers as JSON.
CHILD = """
import json, sys
from cairn.artifact_store.uri import artifact_repository

def peak_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")

root_uri, source, destination = sys.argv[1:4]
repository = artifact_repository(root_uri)
baseline = peak_bytes()
repository.log_artifact(source, "large")
after_upload = peak_bytes()
downloaded = repository.download_artifacts("large/big.bin", destination)
print(json.dumps({"baseline": baseline, "after_upload": after_upload,
                  "peak": peak_bytes(), "downloaded": downloaded}))
"""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """200 MiB from a seeded generator, written 8 MiB at a time; with its sha256."""
    path = tmp_path_factory.mktemp("large") / "big.bin"
    generator = random.Random(20240611)
    digest = hashlib.sha256()
    with open(path, "wb") as stream:
        for _ in range(SIZE // CHUNK):
            chunk = generator.randbytes(CHUNK)
            digest.update(chunk)
            stream.write(chunk)
    return path, digest.hexdigest()


def test_a_large_file_streams_both_ways(
    repository: ArtifactRepository,
    big_file: tuple[Path, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    source, expected_sha = big_file
    child = subprocess.run(
        [sys.executable, "-c", CHILD, repository.root_uri, str(source), str(tmp_path / "dl")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert child.returncode == 0, child.stderr
    measured: dict[str, Any] = json.loads(child.stdout)
    kind = "s3" if isinstance(repository, S3ArtifactRepository) else "local"
    print(
        f"\n{kind}: peak RSS {measured['peak'] / MIB:.1f} MiB "
        f"(before transfers {measured['baseline'] / MIB:.1f} MiB, "
        f"after upload {measured['after_upload'] / MIB:.1f} MiB) for a {SIZE // MIB} MiB file"
    )
    assert measured["peak"] < PEAK_LIMIT
    assert measured["peak"] - measured["baseline"] < GROWTH_LIMIT

    downloaded = Path(measured["downloaded"])
    assert downloaded == tmp_path / "dl" / "big.bin"
    assert downloaded.stat().st_size == SIZE
    assert sha256_of(downloaded) == expected_sha
    assert repository.list_artifacts("large") == [FileInfo("large/big.bin", False, SIZE)]

    if isinstance(repository, S3ArtifactRepository):
        # Went up in 16 MiB parts: a multipart ETag ends with "-<number of parts>".
        client = request.getfixturevalue("s3_client")
        head = client.head_object(
            Bucket=repository.bucket, Key=f"{repository.prefix}/large/big.bin"
        )
        parts = -(-SIZE // MULTIPART_CHUNKSIZE)
        assert head["ETag"].strip('"').endswith(f"-{parts}")
        assert head["ContentLength"] == SIZE
