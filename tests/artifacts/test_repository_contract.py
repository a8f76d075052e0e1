"""The ArtifactRepository contract, run against every implementation (local folder, S3 on a
real moto server): same listings, same bytes back, same errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.s3 import S3ArtifactRepository, parse_s3_uri
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tree_of(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder (None) under `folder`, by relative path."""
    found: dict[str, bytes | None] = {}
    for current, dirs, files in os.walk(folder):
        base = Path(current).relative_to(folder)
        for name in dirs:
            found[(base / name).as_posix()] = None
        for name in files:
            found[(base / name).as_posix()] = (Path(current) / name).read_bytes()
    return found


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


@pytest.fixture
def dst(tmp_path: Path) -> Path:
    return tmp_path / "dst"  # not created: the repository creates it


def round_trip(repository: ArtifactRepository, dst: Path, path: str) -> bytes:
    downloaded = repository.download_artifacts(path, str(dst))
    assert downloaded == str(dst / path.rsplit("/", 1)[-1])
    return Path(downloaded).read_bytes()


def test_the_entry_point_builds_the_repository_for_the_scheme(
    repository: ArtifactRepository,
) -> None:
    expected = "S3ArtifactRepository" if repository.root_uri.startswith("s3://") else "Local"
    assert type(repository).__name__.startswith(expected)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("small.txt", b"hello, artifacts\n"),
        ("empty.txt", b""),
        ("all-bytes.bin", bytes(range(256)) * 5),
        ("crlf.txt", b"line\r\nline\rline\n\x00end"),
    ],
    ids=["small", "empty", "binary", "line-endings"],
)
def test_a_file_comes_back_byte_for_byte(
    repository: ArtifactRepository, src: Path, dst: Path, name: str, data: bytes
) -> None:
    local = write(src / name, data)
    repository.log_artifact(str(local))
    assert repository.list_artifacts() == [FileInfo(name, False, len(data))]
    assert round_trip(repository, dst, name) == data


@pytest.mark.parametrize(
    "name",
    [
        "données.txt",
        "日本語のファイル.bin",
        "emoji-🙂.txt",
        "space in name.txt",
        "100%.txt",
        "50%25off.txt",
        "a+b=c,d&e'f.txt",
        "Ωμέγα",
    ],
)
def test_unicode_and_punctuated_names_round_trip(
    repository: ArtifactRepository, src: Path, dst: Path, name: str
) -> None:
    data = name.encode() * 3
    local = write(src / name, data)
    repository.log_artifact(str(local), "dossier/ünïcödé")
    assert repository.list_artifacts() == [FileInfo("dossier", True, None)]
    assert repository.list_artifacts("dossier") == [FileInfo("dossier/ünïcödé", True, None)]
    assert repository.list_artifacts("dossier/ünïcödé") == [
        FileInfo(f"dossier/ünïcödé/{name}", False, len(data))
    ]
    assert round_trip(repository, dst, f"dossier/ünïcödé/{name}") == data


def test_listings_are_sorted_by_path(repository: ArtifactRepository, src: Path) -> None:
    names = ["b.txt", "B.txt", "a.txt", "é.txt", "z.txt", "_.txt", "10.txt", "9.txt"]
    for name in names:
        write(src / name, name.encode())
    write(src / "m" / "inner.txt", b"x")
    repository.log_artifacts(str(src))
    listed = [entry.path for entry in repository.list_artifacts()]
    assert listed == sorted([*names, "m"])


@pytest.fixture
def nested(src: Path) -> Path:
    """top.txt, a/one.txt, a/b/two.txt, a/b/c/three.bin, a/empty/ (an empty folder)."""
    write(src / "top.txt", b"top")
    write(src / "a" / "one.txt", b"one")
    write(src / "a" / "b" / "two.txt", b"two!")
    write(src / "a" / "b" / "c" / "three.bin", bytes(range(256)))
    (src / "a" / "empty").mkdir()
    return src


def test_a_tree_lists_at_every_depth(repository: ArtifactRepository, nested: Path) -> None:
    repository.log_artifacts(str(nested))
    assert repository.list_artifacts() == [FileInfo("a", True), FileInfo("top.txt", False, 3)]
    assert repository.list_artifacts(None) == repository.list_artifacts("")
    assert repository.list_artifacts("a") == [
        FileInfo("a/b", True),
        FileInfo("a/empty", True),
        FileInfo("a/one.txt", False, 3),
    ]
    assert repository.list_artifacts("a/b") == [
        FileInfo("a/b/c", True),
        FileInfo("a/b/two.txt", False, 4),
    ]
    assert repository.list_artifacts("a/b/") == repository.list_artifacts("a/b")
    assert repository.list_artifacts("a/b/c") == [FileInfo("a/b/c/three.bin", False, 256)]
    assert repository.list_artifacts("a/empty") == []


def test_a_folder_downloads_as_a_whole_tree(
    repository: ArtifactRepository, nested: Path, dst: Path
) -> None:
    repository.log_artifacts(str(nested))
    downloaded = repository.download_artifacts("a", str(dst))
    assert downloaded == str(dst / "a")
    assert tree_of(Path(downloaded)) == tree_of(nested / "a")
    deeper = repository.download_artifacts("a/b/c", str(dst / "deeper"))
    assert tree_of(Path(deeper)) == {"three.bin": bytes(range(256))}


def test_the_root_downloads_as_artifacts(
    repository: ArtifactRepository, nested: Path, dst: Path
) -> None:
    repository.log_artifacts(str(nested))
    downloaded = repository.download_artifacts("", str(dst))
    assert downloaded == str(dst / "artifacts")
    assert tree_of(Path(downloaded)) == tree_of(nested)


def test_a_download_without_destination_goes_to_a_new_temporary_folder(
    repository: ArtifactRepository, nested: Path
) -> None:
    repository.log_artifacts(str(nested))
    first = Path(repository.download_artifacts("a/one.txt"))
    second = Path(repository.download_artifacts("a/b"))
    try:
        assert first.read_bytes() == b"one"
        assert first.name == "one.txt" and second.name == "b"
        assert first.parent != second.parent
        assert tree_of(second) == tree_of(nested / "a" / "b")
    finally:
        for made in (first.parent, second.parent):
            shutil.rmtree(made)


def test_log_artifacts_into_a_nested_path(
    repository: ArtifactRepository, nested: Path, dst: Path
) -> None:
    repository.log_artifacts(str(nested / "a" / "b"), "x/y/")
    assert repository.list_artifacts() == [FileInfo("x", True)]
    assert repository.list_artifacts("x") == [FileInfo("x/y", True)]
    assert repository.list_artifacts("x/y") == [
        FileInfo("x/y/c", True),
        FileInfo("x/y/two.txt", False, 4),
    ]
    assert tree_of(Path(repository.download_artifacts("x/y", str(dst)))) == tree_of(
        nested / "a" / "b"
    )


def test_an_empty_folder_logged_is_an_empty_folder(
    repository: ArtifactRepository, src: Path, dst: Path
) -> None:
    (src / "nothing").mkdir()
    repository.log_artifacts(str(src / "nothing"), "kept")
    assert repository.list_artifacts() == [FileInfo("kept", True)]
    assert repository.list_artifacts("kept") == []
    assert tree_of(Path(repository.download_artifacts("kept", str(dst)))) == {}


@pytest.mark.parametrize("root", [None, "", ".", "/"])
def test_artifact_path_none_and_its_spellings_mean_the_root(
    repository: ArtifactRepository, src: Path, root: str | None
) -> None:
    local = write(src / "f.txt", b"f")
    repository.log_artifact(str(local), root)
    repository.log_artifact(str(local), "deep/er")
    assert repository.list_artifacts(root) == [FileInfo("deep", True), FileInfo("f.txt", False, 1)]
    assert repository.list_artifacts("deep/er") == [FileInfo("deep/er/f.txt", False, 1)]


def test_logging_again_overwrites(repository: ArtifactRepository, src: Path, dst: Path) -> None:
    local = write(src / "model.bin", b"first version, the longer one")
    repository.log_artifact(str(local), "m")
    write(local, b"second")
    repository.log_artifact(str(local), "m")
    assert repository.list_artifacts("m") == [FileInfo("m/model.bin", False, 6)]
    assert round_trip(repository, dst, "m/model.bin") == b"second"


def test_a_download_over_an_existing_file_replaces_it(
    repository: ArtifactRepository, src: Path, dst: Path
) -> None:
    repository.log_artifact(str(write(src / "r.txt", b"remote")))
    write(dst / "r.txt", b"stale local copy, longer")
    assert round_trip(repository, dst, "r.txt") == b"remote"


def test_listing_a_missing_path_or_a_file_gives_nothing(
    repository: ArtifactRepository, src: Path
) -> None:
    assert repository.list_artifacts() == []
    assert repository.list_artifacts("missing") == []
    repository.log_artifact(str(write(src / "f.txt", b"f")), "a")
    assert repository.list_artifacts("a/missing/deeper") == []
    assert repository.list_artifacts("a/f.txt") == []
    assert repository.list_artifacts("a/f") == []  # a prefix of a name is not a folder


@pytest.mark.parametrize("path", ["missing", "a/missing", "a/f", "a/f.txt/x", ""])
def test_downloading_a_missing_path_raises(
    repository: ArtifactRepository, src: Path, dst: Path, path: str
) -> None:
    if path:  # "" stays an empty repository: its root does not exist yet
        repository.log_artifact(str(write(src / "f.txt", b"f")), "a")
    with pytest.raises(ResourceDoesNotExistError):
        repository.download_artifacts(path, str(dst))
    assert not dst.exists()


def test_logging_what_does_not_exist_raises(repository: ArtifactRepository, src: Path) -> None:
    with pytest.raises(InvalidParameterValueError):
        repository.log_artifact(str(src / "absent.txt"))
    with pytest.raises(InvalidParameterValueError):
        repository.log_artifact(str(src))  # a folder is not a file
    with pytest.raises(InvalidParameterValueError):
        repository.log_artifacts(str(src / "absent"))
    with pytest.raises(InvalidParameterValueError):
        repository.log_artifacts(str(write(src / "f.txt", b"f")))  # a file is not a folder
    assert repository.list_artifacts() == []


def test_deleting_a_file_keeps_its_siblings_and_its_folder(
    repository: ArtifactRepository, nested: Path, dst: Path
) -> None:
    repository.log_artifacts(str(nested))
    repository.delete_artifacts("a/b/two.txt")
    assert repository.list_artifacts("a/b") == [FileInfo("a/b/c", True)]
    repository.delete_artifacts("a/b/c/three.bin")
    assert repository.list_artifacts("a/b") == [FileInfo("a/b/c", True)]
    assert repository.list_artifacts("a/b/c") == []
    with pytest.raises(ResourceDoesNotExistError):
        repository.download_artifacts("a/b/c/three.bin", str(dst))
    assert tree_of(Path(repository.download_artifacts("a/b", str(dst)))) == {"c": None}


def test_deleting_a_folder_deletes_its_tree_and_only_it(
    repository: ArtifactRepository, nested: Path, src: Path, dst: Path
) -> None:
    repository.log_artifacts(str(nested))
    repository.log_artifact(str(write(src / "ab", b"a name sharing the folder's prefix")))
    repository.delete_artifacts("a/b")
    assert repository.list_artifacts("a") == [
        FileInfo("a/empty", True),
        FileInfo("a/one.txt", False, 3),
    ]
    assert repository.list_artifacts("a/b") == []
    with pytest.raises(ResourceDoesNotExistError):
        repository.download_artifacts("a/b", str(dst))
    repository.delete_artifacts("a/")
    assert repository.list_artifacts() == [
        FileInfo("ab", False, 34),
        FileInfo("top.txt", False, 3),
    ]


def test_deleting_everything_empties_the_repository(
    repository: ArtifactRepository, nested: Path, dst: Path
) -> None:
    repository.log_artifacts(str(nested))
    repository.delete_artifacts()
    assert repository.list_artifacts() == []
    with pytest.raises(ResourceDoesNotExistError):
        repository.download_artifacts("", str(dst))
    repository.delete_artifacts(None)  # again: nothing left, no error


def test_deleting_a_missing_path_changes_nothing(
    repository: ArtifactRepository, nested: Path
) -> None:
    repository.log_artifacts(str(nested))
    before = {p: repository.list_artifacts(p) for p in ("", "a", "a/b", "a/b/c", "a/empty")}
    repository.delete_artifacts("missing")
    repository.delete_artifacts("a/missing/deeper")
    repository.delete_artifacts("a/on")  # a prefix of a/one.txt, not a path
    after = {p: repository.list_artifacts(p) for p in before}
    assert after == before
    assert repository.list_artifacts("missing") == []


@pytest.mark.parametrize("repository", ["local"], indirect=True)
def test_a_file_and_a_folder_sharing_a_path_is_a_parameter_error(
    repository: ArtifactRepository, src: Path
) -> None:
    """A folder cannot hold a file and a folder under one name: the clash must surface as
    InvalidParameterValueError (HTTP 400), not as a raw OSError (a 500 from the server).
    Local only: S3 keys can hold both, and S3 does not check (see s3.py).
    (Fails today: FileExistsError and IsADirectoryError escape from local.py.)"""
    local = write(src / "model.bin", b"m")
    repository.log_artifact(str(local))  # model.bin is a file...
    with pytest.raises(InvalidParameterValueError):
        repository.log_artifact(str(local), "model.bin")  # ...so it cannot be a folder
    repository.log_artifact(str(local), "d/model.bin")  # d/model.bin is a folder...
    with pytest.raises(InvalidParameterValueError):
        repository.log_artifact(str(local), "d")  # ...so no file can replace it
    assert repository.list_artifacts() == [FileInfo("d", True), FileInfo("model.bin", False, 1)]


def test_more_children_than_one_listing_page(repository: ArtifactRepository, src: Path) -> None:
    count = 1003  # S3 answers at most 1000 keys per page, and deletes 1000 per request
    for number in range(count):
        write(src / f"{number:05d}.txt", str(number).encode())
    repository.log_artifacts(str(src), "many")
    listed = repository.list_artifacts("many")
    assert [entry.path for entry in listed] == [f"many/{n:05d}.txt" for n in range(count)]
    assert listed[-1] == FileInfo(f"many/{count - 1:05d}.txt", False, len(str(count - 1)))
    repository.delete_artifacts("many")
    assert repository.list_artifacts("many") == []


def test_the_s3_root_uri_is_parsed_strictly() -> None:
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert parse_s3_uri("s3://bucket/") == ("bucket", "")
    assert parse_s3_uri("S3://bucket/a/b/") == ("bucket", "a/b")
    for bad in ("s3://", "s3:///prefix", "file:///x", "s3://bucket/a/../b", "s3://../x"):
        with pytest.raises(InvalidParameterValueError):
            S3ArtifactRepository(bad)


def test_importing_cairn_does_not_import_boto3() -> None:
    code = (
        "import sys, cairn, cairn.artifact_store.s3, cairn.artifact_store.uri\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "[]"


def test_a_missing_boto3_names_the_extra_to_install() -> None:
    # `sys.modules[name] = None` is Python's own way to make an import fail (ImportError).
    code = (
        "import sys\n"
        "sys.modules['boto3'] = None\n"
        "from cairn.exceptions import CairnError\n"
        "from cairn.artifact_store.uri import artifact_repository\n"
        "try:\n"
        "    artifact_repository('s3://bucket/prefix')\n"
        "except CairnError as error:\n"
        "    print(type(error).__name__, '|', error)\n"
    )
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith("CairnError |")
    assert "pip install 'cairn-tracker[s3]'" in answer.stdout
