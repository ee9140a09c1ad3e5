"""Fixtures: a small tree to work in, and the two protocol eras."""

import os
import struct
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from fs_observe import ...`


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """<tmp>/work: text, nested folders, a binary, an image, a link inside the tree."""
    root = tmp_path / "work"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "node_modules" / "dep").mkdir(parents=True)
    (root / "README.md").write_text("# Project\nIntro line\nTODO: write docs\n")
    (root / "src" / "main.py").write_text("import os\n\n\ndef main():\n    return 'TODO'\n")
    (root / "src" / "pkg" / "util.py").write_text("def helper():\n    pass  # todo later\n")
    (root / "docs" / "guide.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    (root / "docs" / "latin1.txt").write_bytes("café crème brûlée, déjà vu à la française\n".encode("latin-1") * 3)
    (root / "node_modules" / "dep" / "index.js").write_text("// TODO in a dependency\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02TODO\x00" * 10)
    (root / "pixel.png").write_bytes(tiny_png())
    os.symlink("src/main.py", root / "main-link.py")
    return root


@pytest.fixture(autouse=True)
def _macos_like(monkeypatch: pytest.MonkeyPatch) -> None:
    """With PATCHBAY_FILESYSTEM_TEST_MACOS_LIKE=1, run as on macOS: no renameat2, no file-to-file sendfile.

    For running a suite (the security battery) through those fallbacks on Linux.
    """
    if os.environ.get("PATCHBAY_FILESYSTEM_TEST_MACOS_LIKE") == "1":
        from patchbay_filesystem import capabilities

        monkeypatch.setattr(capabilities.CURRENT, "renameat2", None)
        monkeypatch.setattr(capabilities.CURRENT, "file_sendfile", False)
