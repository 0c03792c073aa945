"""`bizpbx.esl` is the sans-IO core; the asyncio client and server live in `bizpbx.esl.aio`."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest

import bizpbx.esl
import bizpbx.esl.aio

SRC = Path(bizpbx.esl.__file__).resolve().parents[2]
ESL_DIR = SRC / "bizpbx" / "esl"
# What a sans-IO module must not reach for: I/O, an event loop, threads, or the logging machinery.
IO_MODULES = frozenset({"asyncio", "logging", "socket", "selectors", "ssl", "threading", "subprocess", "bizpbx.esl.aio"})


def imported_names(source: str) -> set[str]:
    """Every module a source file imports, at any depth (function bodies included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def io_imports(source: str) -> set[str]:
    return {name for name in imported_names(source) if any(name == io or name.startswith(f"{io}.") for io in IO_MODULES)}


def sans_io_modules() -> list[Path]:
    return sorted(ESL_DIR.glob("*.py"))


def test_the_check_sees_an_io_import_wherever_it_is() -> None:
    source = "import json\nfrom bizpbx.esl.aio import InboundClient\n\ndef later():\n    import logging.handlers\n"
    assert io_imports(source) == {"bizpbx.esl.aio", "bizpbx.esl.aio.InboundClient", "logging.handlers"}
    assert io_imports("from asyncio import Queue\n") == {"asyncio", "asyncio.Queue"}
    assert io_imports("import json, re\nfrom collections import deque\n") == set()


@pytest.mark.parametrize("module", sans_io_modules(), ids=lambda path: path.name)
def test_a_sans_io_module_imports_no_io(module: Path) -> None:
    assert io_imports(module.read_text()) == set(), f"{module.relative_to(SRC)} imports I/O"


def test_the_core_does_not_load_asyncio_or_logging_even_indirectly() -> None:
    probe = "import sys, bizpbx.esl; print(' '.join(sorted(name for name in sys.modules if name.split('.')[0] in ('asyncio', 'logging', 'socket', 'threading'))))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_core_exports_only_sans_io_names() -> None:
    exported = {name: getattr(bizpbx.esl, name) for name in bizpbx.esl.__all__}
    defined = [value for value in exported.values() if isinstance(value, type | types.FunctionType | types.ModuleType)]
    modules = {value.__name__ if isinstance(value, types.ModuleType) else value.__module__ for value in defined}
    assert all(module.startswith("bizpbx.esl.") and not module.startswith("bizpbx.esl.aio") for module in modules), modules
    assert {"FrameParser", "Connection", "Event", "Command", "commands", "Headers", "ProtocolError", "EslError"} <= set(exported)
    assert not {"InboundClient", "OutboundServer", "OutboundSession"} & set(dir(bizpbx.esl))


def test_the_asyncio_package_exports_the_client_and_the_server() -> None:
    assert set(bizpbx.esl.aio.__all__) == {"Handler", "InboundClient", "OutboundServer", "OutboundSession"}
    assert all(getattr(bizpbx.esl.aio, name) is not None for name in bizpbx.esl.aio.__all__)
