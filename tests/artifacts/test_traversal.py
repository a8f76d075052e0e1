"""Path traversal, as MLflow's server was attacked (reference mlflow-compat.md §8), against
every repository method: each vector is refused with InvalidParameterValueError and nothing
inside or around the root changes. Symlinks (local) and planted keys (S3) are not followed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from artifact_surroundings import ROOT_PREFIX, Surroundings

from cairn.artifact_paths import safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.local import LocalArtifactRepository
from cairn.artifact_store.s3 import S3ArtifactRepository
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValueError

# (vector, id): each must be refused outright.
REFUSED = [
    ("../x", "dotdot"),
    ("..", "bare-dotdot"),
    ("a/..", "dotdot-at-end"),
    ("../../../../../../etc/passwd", "dotdot-to-etc"),
    ("..\\x", "backslash-dotdot"),
    ("a\\..\\..\\x", "backslash-nested"),
    ("a/../../x", "nested-dotdot"),
    ("a/./../../x", "dot-then-dotdot"),
    ("%2e%2e%2fx", "url-encoded"),
    ("%2E%2E%2Fx", "url-encoded-upper"),
    ("%2e%2e/x", "url-encoded-dots"),
    (".%2e/x", "half-encoded"),
    ("..%2fx", "encoded-slash"),
    ("..%5cx", "encoded-backslash"),
    ("%252e%252e%252fx", "double-encoded"),
    ("%25252e%25252e%25252fx", "triple-encoded"),
    ("a/;/../../x", "semicolon-param"),
    ("a;/../../x", "semicolon-in-segment"),
    ("a#/../../x", "fragment"),
    ("a%23/../../x", "encoded-fragment"),
    ("a?/../../x", "query"),
    ("a%3f/../../x", "encoded-query"),
    ("/etc/passwd", "absolute"),
    ("//etc/passwd", "double-slash-absolute"),
    ("%2fetc%2fpasswd", "encoded-absolute"),
    ("C:/x", "drive"),
    ("c:x", "drive-relative"),
    ("C:..\\x", "drive-dotdot"),
    ("\\\\server\\share\\x", "unc"),
    ("x\x00y", "nul"),
    ("%00", "encoded-nul"),
    ("x%00/../../y", "encoded-nul-then-dotdot"),
    ("a\nb", "newline"),
    ("a\rb", "carriage-return"),
    ("a\x1bb", "escape"),
    ("a\x7fb", "delete"),
    ("a\tb", "tab"),
]

# Accepted or refused as the path rules decide, but never leaving the root: when accepted,
# the artifact lands at safe_relative(vector) inside the root.
CONTAINED = [
    ("....//x", "four-dots"),
    ("..../x", "four-dots-single-slash"),
    ("~/x", "tilde"),
    ("．．/x", "fullwidth-dots"),
    ("%c0%ae%c0%ae/x", "overlong-utf8-dots"),
    ("file:/etc/x", "file-scheme"),
    ("a/%2e/x", "encoded-single-dot"),
]

OPERATIONS = ["log_artifact", "log_artifacts", "list_artifacts", "download", "delete"]


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    """A file, and a folder holding a file, to log."""
    folder = tmp_path / "src" / "folder"
    folder.mkdir(parents=True)
    (folder / "inner.txt").write_bytes(b"inner")
    single = tmp_path / "src" / "single.txt"
    single.write_bytes(b"single")
    return single, folder


@pytest.fixture
def populated(
    repository: ArtifactRepository, surroundings: Surroundings, sources: tuple[Path, Path]
) -> Surroundings:
    """The root holds keep.txt and a/keep.txt besides the sentinels around it."""
    single, _folder = sources
    keep = single.parent / "keep.txt"
    keep.write_bytes(b"keep")
    repository.log_artifact(str(keep))
    repository.log_artifact(str(keep), "a")
    return surroundings


def attempt(
    operation: str,
    repository: ArtifactRepository,
    path: str,
    sources: tuple[Path, Path],
    dst: Path,
) -> object:
    single, folder = sources
    calls: dict[str, Callable[[], object]] = {
        "log_artifact": lambda: repository.log_artifact(str(single), path),
        "log_artifacts": lambda: repository.log_artifacts(str(folder), path),
        "list_artifacts": lambda: repository.list_artifacts(path),
        "download": lambda: repository.download_artifacts(path, str(dst)),
        "delete": lambda: repository.delete_artifacts(path),
    }
    return calls[operation]()


def read_etc_passwd() -> bytes | None:
    return Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else None


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("vector", [v for v, _ in REFUSED], ids=[i for _, i in REFUSED])
def test_a_traversal_vector_is_refused_and_changes_nothing(
    repository: ArtifactRepository,
    populated: Surroundings,
    sources: tuple[Path, Path],
    tmp_path: Path,
    operation: str,
    vector: str,
) -> None:
    before = populated.everything()
    passwd = read_etc_passwd()
    dst = tmp_path / "dst"
    with pytest.raises(InvalidParameterValueError):
        attempt(operation, repository, vector, sources, dst)
    assert populated.everything() == before
    assert not dst.exists()
    assert read_etc_passwd() == passwd


# File names on disk cannot hold "/" or NUL, nor be "..": those vectors go in encoded.
FILE_NAMES = [(v.replace("/", "%2f").replace("\x00", "%00"), i) for v, i in REFUSED if v != ".."]


@pytest.mark.parametrize("name", [n for n, _ in FILE_NAMES], ids=[i for _, i in FILE_NAMES])
def test_a_traversal_vector_as_a_local_file_name_is_refused(
    repository: ArtifactRepository, surroundings: Surroundings, tmp_path: Path, name: str
) -> None:
    """The name of a logged file, or of a file at the top of a logged folder, is a path too
    (deeper in a folder, "c:x" or "%2fetc" are harmless: only a path's start names a drive
    or the filesystem root)."""
    folder = tmp_path / "src" / "evil"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"evil")
    before, outside = surroundings.everything(), surroundings.outside()
    with pytest.raises(InvalidParameterValueError):
        repository.log_artifact(str(folder / name))
    assert surroundings.everything() == before
    with pytest.raises(InvalidParameterValueError):
        repository.log_artifacts(str(folder))
    assert surroundings.outside() == outside  # (local may have made the empty root first)
    assert all(b"evil" not in data for data in surroundings.everything().values())


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("vector", [v for v, _ in CONTAINED], ids=[i for _, i in CONTAINED])
def test_an_odd_but_harmless_path_never_leaves_the_root(
    repository: ArtifactRepository,
    populated: Surroundings,
    sources: tuple[Path, Path],
    tmp_path: Path,
    operation: str,
    vector: str,
) -> None:
    outside = populated.outside()
    dst = tmp_path / "dst"
    try:
        relative = safe_relative(vector)
    except InvalidParameterValueError:
        relative = None
    if relative is None:
        with pytest.raises(InvalidParameterValueError):
            attempt(operation, repository, vector, sources, dst)
    else:
        # Make the path exist first (through the harmless spelling), then act on it.
        repository.log_artifact(str(sources[0]), relative)
        result = attempt(operation, repository, vector, sources, dst)
        if operation == "list_artifacts":
            assert result == [FileInfo(f"{relative}/single.txt", False, 6)]
        if operation == "download":
            assert result == str(dst / relative.rsplit("/", 1)[-1])
            assert (Path(str(result)) / "single.txt").read_bytes() == b"single"
        if operation == "delete":
            assert repository.list_artifacts(relative) == []
        if operation.startswith("log"):
            assert repository.list_artifacts(relative)[-1].path.startswith(relative + "/")
    assert populated.outside() == outside


def test_a_name_that_only_starts_with_two_dots_is_an_ordinary_name(
    repository: ArtifactRepository, surroundings: Surroundings, tmp_path: Path
) -> None:
    """'..notes.txt' and '...' have no '..' segment: MLflow accepts them, and so must we.
    (Fails today: paths.safe_relative refuses any normalised path that starts with '..'.)"""
    outside = surroundings.outside()
    for name in ("..notes.txt", "..."):
        local = tmp_path / "src" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(name.encode())
        repository.log_artifact(str(local), "odd")  # passes today: not at the path's start
        repository.log_artifact(str(local))  # fails today
    assert repository.list_artifacts("odd") == [
        FileInfo("odd/...", False, 3),
        FileInfo("odd/..notes.txt", False, 11),
    ]
    assert repository.list_artifacts() == [
        FileInfo("...", False, 3),
        FileInfo("..notes.txt", False, 11),
        FileInfo("odd", True),
    ]
    assert surroundings.outside() == outside


def test_deleting_everything_leaves_the_surroundings(
    repository: ArtifactRepository, populated: Surroundings, tmp_path: Path
) -> None:
    outside = populated.outside()
    repository.delete_artifacts()
    assert repository.list_artifacts() == []
    assert populated.outside() == outside
    assert not any(key.startswith(f"s3:{ROOT_PREFIX}/") for key in populated.everything())


def test_downloading_the_root_takes_nothing_from_beside_it(
    repository: ArtifactRepository, populated: Surroundings, tmp_path: Path
) -> None:
    downloaded = Path(repository.download_artifacts("", str(tmp_path / "dst")))
    found = sorted(p.relative_to(downloaded).as_posix() for p in downloaded.rglob("*"))
    assert found == ["a", "a/keep.txt", "keep.txt"]


# Symbolic links inside a local root ------------------------------------------------------


@pytest.fixture
def linked(tmp_path: Path) -> tuple[LocalArtifactRepository, Path, Surroundings]:
    """A local root holding links that lead outside it: link_dir -> <world>/outside_dir,
    link_file -> <world>/outside_secret.txt, nested/link_up -> ../../../outside_dir
    (relative), plus an ordinary file. Returns the repository, the root, the surroundings."""
    world = tmp_path / "world"
    root = world / ROOT_PREFIX
    (root / "nested").mkdir(parents=True)
    (root / "inside.txt").write_bytes(b"inside")
    outside_dir = world / "outside_dir"
    outside_dir.mkdir()
    (outside_dir / "secret.txt").write_bytes(b"SECRET-DIR")
    outside_file = world / "outside_secret.txt"
    outside_file.write_bytes(b"SECRET-FILE")
    (root / "link_dir").symlink_to(outside_dir, target_is_directory=True)
    (root / "link_file").symlink_to(outside_file)
    (root / "nested" / "link_up").symlink_to("../../../outside_dir", target_is_directory=True)
    assert (root / "nested" / "link_up" / "secret.txt").read_bytes() == b"SECRET-DIR"
    repository = LocalArtifactRepository(str(root))
    around = Surroundings(repository, world, None)
    around.plant()
    return repository, root, around


LINKED_PATHS = ["link_dir", "link_dir/secret.txt", "link_file", "nested/link_up"]


def no_secret_under(folder: Path) -> bool:
    if not folder.exists():
        return True
    return all(b"SECRET" not in path.read_bytes() for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("path", [*LINKED_PATHS, "nested/link_up/secret.txt"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_symlink_leading_outside_is_refused(
    linked: tuple[LocalArtifactRepository, Path, Surroundings],
    sources: tuple[Path, Path],
    tmp_path: Path,
    operation: str,
    path: str,
) -> None:
    repository, _root, around = linked
    before = around.everything()
    dst = tmp_path / "dst"
    with pytest.raises(InvalidParameterValueError):
        attempt(operation, repository, path, sources, dst)
    assert around.everything() == before
    assert no_secret_under(dst)


@pytest.mark.parametrize("path", ["", "nested"])
def test_a_folder_holding_an_outward_symlink_is_not_listed_or_downloaded(
    linked: tuple[LocalArtifactRepository, Path, Surroundings], tmp_path: Path, path: str
) -> None:
    repository, _root, around = linked
    before = around.everything()
    with pytest.raises(InvalidParameterValueError):
        repository.list_artifacts(path)
    with pytest.raises(InvalidParameterValueError):
        repository.download_artifacts(path, str(tmp_path / "dst"))
    assert no_secret_under(tmp_path / "dst")
    assert around.everything() == before


def test_logging_a_file_named_like_an_outward_symlink_does_not_write_through_it(
    linked: tuple[LocalArtifactRepository, Path, Surroundings], tmp_path: Path
) -> None:
    repository, root, around = linked
    outside = around.outside()
    local = tmp_path / "src" / "link_file"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"overwrite attempt")
    try:
        repository.log_artifact(str(local))
    except InvalidParameterValueError:
        assert (root / "link_file").is_symlink()  # refused: the link stays as it was
    else:
        assert not (root / "link_file").is_symlink()  # replaced, not followed
        assert (root / "link_file").read_bytes() == b"overwrite attempt"
    assert around.outside() == outside
    assert (tmp_path / "world" / "outside_secret.txt").read_bytes() == b"SECRET-FILE"


def test_deleting_the_whole_root_removes_links_not_their_targets(
    linked: tuple[LocalArtifactRepository, Path, Surroundings],
) -> None:
    repository, root, around = linked
    outside = around.outside()
    repository.delete_artifacts()
    assert not root.exists()
    assert around.outside() == outside


def test_a_symlink_that_stays_inside_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "world" / ROOT_PREFIX
    (root / "real").mkdir(parents=True)
    (root / "real" / "x.txt").write_bytes(b"x")
    (root / "alias").symlink_to("real", target_is_directory=True)
    repository = LocalArtifactRepository(str(root))
    assert repository.list_artifacts() == [FileInfo("alias", True), FileInfo("real", True)]
    assert repository.list_artifacts("alias") == [FileInfo("alias/x.txt", False, 1)]
    got = repository.download_artifacts("alias/x.txt", str(tmp_path / "dst"))
    assert Path(got).read_bytes() == b"x"
    repository.delete_artifacts("alias")  # removes the link, not what it points to
    assert repository.list_artifacts() == [FileInfo("real", True)]
    assert (root / "real" / "x.txt").read_bytes() == b"x"


def test_a_symlink_loop_inside_the_root_is_not_followed_without_end(tmp_path: Path) -> None:
    """a/loop -> a stays inside the root, but a download of `a` must not recurse into
    a/loop/loop/loop/... until the OS gives up. Copying the tree once, or refusing the
    loop (InvalidParameterValueError), are both fine.
    (Fails today: _copy_tree recurses ~40 levels deep, then OSError ELOOP escapes.)"""
    root = tmp_path / "world" / ROOT_PREFIX
    (root / "a").mkdir(parents=True)
    (root / "a" / "f.txt").write_bytes(b"f")
    (root / "a" / "loop").symlink_to(root / "a", target_is_directory=True)
    repository = LocalArtifactRepository(str(root))
    dst = tmp_path / "dst"
    try:
        downloaded = repository.download_artifacts("a", str(dst))
    except InvalidParameterValueError:
        pass
    else:
        assert (Path(downloaded) / "f.txt").read_bytes() == b"f"
    deepest = max((len(p.relative_to(dst).parts) for p in dst.rglob("*")), default=0)
    assert deepest <= 3


# Keys planted in the bucket ----------------------------------------------------------------

PLANTED = [
    ("a/../../../../evil", "a"),  # resolves above the prefix, and above a download folder
    ("../evil", ""),
    ("a//evil", "a"),  # an empty segment
    ("a/%2e%2e/%2e%2e/evil", "a"),
    ("a/..\\..\\evil", "a"),
    ("a/ev\x01il", "a"),
]


@pytest.mark.parametrize("repository", ["s3"], indirect=True)
@pytest.mark.parametrize(("planted", "folder"), PLANTED, ids=[p for p, _ in PLANTED])
def test_a_key_planted_in_the_bucket_is_not_followed(
    repository: ArtifactRepository,
    populated: Surroundings,
    tmp_path: Path,
    planted: str,
    folder: str,
) -> None:
    assert isinstance(repository, S3ArtifactRepository)
    key = f"{repository.prefix}/{planted}"
    populated.put(key, b"evil")
    assert f"s3:{key}" in populated.everything()  # stored verbatim by the server
    before = populated.everything()
    dst = tmp_path / "dl" / "dst"
    with pytest.raises(InvalidParameterValueError):
        repository.list_artifacts(folder)
    for path in {folder, ""}:
        with pytest.raises(InvalidParameterValueError):
            repository.download_artifacts(path, str(dst))
    assert not (tmp_path / "dl").exists()  # refused before anything was written
    assert not any(name == "evil" for _dirs, _subs, names in os.walk(tmp_path) for name in names)
    assert populated.everything() == before
    # What does not hold the planted key still lists and downloads.
    if folder != "a":
        assert repository.list_artifacts("a") == [FileInfo("a/keep.txt", False, 4)]
    assert Path(repository.download_artifacts("keep.txt", str(dst))).read_bytes() == b"keep"
