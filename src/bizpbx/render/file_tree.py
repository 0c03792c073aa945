"""Replace a directory with a given set of files, whole or not at all.

The new tree is written into a staging directory beside the target and
swapped in with one atomic rename-exchange (Linux ``renameat2`` with
``RENAME_EXCHANGE``): at every instant the target is either the old tree or
the new one, even if the process is killed. Where the file system cannot
exchange, two renames are used, and a render killed between them leaves the
old tree under a ``.NAME.bizpbx-old-*`` name, which the next render puts
back before anything else. Every render first removes what an interrupted
one left beside the target (staging and retired directories), under a lock
on the parent directory so that two renders never remove each other's.

Files are 0640 and directories 0750 (several files carry secrets;
the whole configuration stays private to its owner and group), and take the
group of the tree they replace, so the switch's group can still read them.
"""

from __future__ import annotations

import ctypes
import difflib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

FILE_MODE = 0o640
DIR_MODE = 0o750
# A directory that is not empty is replaced only if it looks like a FreeSWITCH
# configuration: a mistyped --out must never wipe an unrelated directory.
CONFIGURATION_MARK = "freeswitch.xml"
MASK = "********"


class TreeError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    kind: str  # new, changed, mode (permissions only), removed

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}"


@dataclass(frozen=True, slots=True)
class _Existing:
    content: bytes | None  # None: not a regular file
    mode: int


def changes(target: Path, files: Mapping[str, bytes]) -> list[Change]:
    """What writing `files` into `target` would change, sorted by path."""
    existing = _read_tree(target)
    found = []
    for path in sorted(files.keys() | existing.keys()):
        old = existing.get(path)
        if path not in files:
            found.append(Change(path, "removed"))
        elif old is None:
            found.append(Change(path, "new"))
        elif old.content != files[path]:
            found.append(Change(path, "changed"))
        elif old.mode != FILE_MODE:
            found.append(Change(path, "mode"))
    return found


def replace_tree(target: Path, files: Mapping[str, bytes]) -> list[str]:
    """Write `files` as the tree at `target`; returns what was tidied up from
    an interrupted render before (one line each)."""
    _check_parent(target)
    with _locked(target.parent):
        notes = _recover(target)
        _check_replaceable(target)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=_prefix(target, "new")))
        try:
            os.chmod(staging, DIR_MODE)
            for path in sorted(files):
                _write(staging, path, files[path])
            if target.exists():
                _take_group(staging, target.stat().st_gid)
            _swap(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return notes


def recover(target: Path) -> list[str]:
    """Undo what an interrupted render left: put the previous tree back if the
    target is missing, and remove staging and retired directories. Returns
    what was done, one line each."""
    _check_parent(target)
    with _locked(target.parent):
        return _recover(target)


def leftovers(target: Path) -> list[Path]:
    """What interrupted renders left beside the target (staging and retired trees), oldest first."""
    if not target.parent.is_dir():
        return []
    return sorted(target.parent.glob(f"{_glob_escape(_prefix(target, '*'))}*"), key=_mtime)


def _recover(target: Path) -> list[str]:
    notes = []
    found = leftovers(target)
    retired = [path for path in found if path.name.startswith(_prefix(target, "old")) and path.is_dir() and not path.is_symlink()]
    if not os.path.lexists(target) and retired:
        previous = retired[-1]
        os.rename(previous, target)
        found.remove(previous)
        notes.append(f"{target}: put back the previous configuration from {previous.name} (a render was interrupted)")
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        notes.append(f"{target.parent}: removed {path.name}, left by an interrupted render")
    return notes


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _prefix(target: Path, kind: str) -> str:
    return f".{target.name}.bizpbx-{kind}-" if kind != "*" else f".{target.name}.bizpbx-"


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


class _locked:
    """An exclusive flock on a directory, held while the tree beside it is replaced."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        os.close(self._fd)  # releases the lock


def unified_diff(
    target: Path, files: Mapping[str, bytes], found: Iterable[Change], mask: Callable[[str, str], tuple[str, str]]
) -> str:
    """A unified diff of `found`; `mask(old_text, new_text)` gives both sides
    with the secrets hidden where they are written, old and new alike.
    (Replacing the known secret values instead missed the old ones, which
    only the file knows, and their XML-escaped forms; and it masked any text
    equal to a secret, telling a 4-digit PIN that equals a port number.)"""

    def masked(old: bytes | None, new: bytes | None) -> tuple[list[str], list[str]]:
        old_text, new_text = mask(*(("" if side is None else side.decode("utf-8", errors="replace")) for side in (old, new)))
        return old_text.splitlines(keepends=True), new_text.splitlines(keepends=True)

    out: list[str] = []
    for change in found:
        if change.kind == "mode":
            out.append(f"mode of {change.path} becomes {FILE_MODE:04o}\n")
            continue
        old = _read_file(target / change.path) if change.kind != "new" else None
        new = files.get(change.path)
        old_name = f"a/{change.path}" if change.kind != "new" else "/dev/null"
        new_name = f"b/{change.path}" if change.kind != "removed" else "/dev/null"
        for line in difflib.unified_diff(*masked(old, new), old_name, new_name):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _check_parent(target: Path) -> None:
    if not target.parent.is_dir():
        raise TreeError(f"{target.parent} does not exist: create it first")


def _check_replaceable(target: Path) -> None:
    _check_parent(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise TreeError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not (target / CONFIGURATION_MARK).is_file():
        raise TreeError(f"{target} is not empty and holds no {CONFIGURATION_MARK}: refusing to replace what may not be a FreeSWITCH configuration")


def _write(root: Path, relative: str, content: bytes) -> None:
    path = root / relative
    for directory in reversed(path.relative_to(root).parents[:-1]):
        full = root / directory
        if not full.is_dir():
            full.mkdir(mode=DIR_MODE)
            os.chmod(full, DIR_MODE)  # mkdir's mode is filtered by the umask
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.chmod(path, FILE_MODE)


def _take_group(root: Path, gid: int) -> None:
    if os.stat(root).st_gid == gid:
        return
    try:
        for directory, _, names in os.walk(root):
            os.chown(directory, -1, gid)
            for name in names:
                os.chown(os.path.join(directory, name), -1, gid)
    except PermissionError:
        raise TreeError(f"cannot give the new files group {gid}, the group of the tree they replace") from None


def _swap(staging: Path, target: Path) -> None:
    os.sync()  # the new files are on disk before they replace the old ones
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        # One atomic step: target is the new tree, staging the old one.
        shutil.rmtree(staging)
        return
    retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=_prefix(target, "old")))
    os.rmdir(retired)
    os.rename(target, retired)
    # Killed here, the target is missing: the next render's recover() puts `retired` back.
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(retired, target)
        raise
    shutil.rmtree(retired)


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
# What renameat2 answers on a kernel, libc or file system that cannot exchange.
_CANNOT_EXCHANGE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})


def _renameat2():  # noqa: ANN202 - a ctypes function, or None without one
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _renameat2()


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directory entries atomically; False where that cannot be done."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _CANNOT_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def _read_tree(target: Path) -> dict[str, _Existing]:
    if not target.is_dir():
        return {}
    found = {}
    for directory, _, names in os.walk(target):
        for name in names:
            path = Path(directory) / name
            info = path.lstat()
            relative = path.relative_to(target).as_posix()
            content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
            found[relative] = _Existing(content, stat.S_IMODE(info.st_mode))
    return found


def _read_file(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None
