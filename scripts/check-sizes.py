#!/usr/bin/env python3
"""No .cc file of core/ or services/ over 600 lines (the house rule; the
100-line limit on functions is clang-tidy's readability-function-size, set in
core/.clang-tidy and services/.clang-tidy). Exits 1 naming each file over."""
import pathlib
import sys

LIMIT = 600
root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
over = [
    (path.relative_to(root).as_posix(), lines)
    for directory in ("core", "services")
    for path in sorted((root / directory).rglob("*.cc"))
    if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
]
for path, lines in over:
    print(f"{path}: {lines} lines, over {LIMIT}: split it along its invariants")
print(f"check-sizes: {'every' if not over else 'not every'} .cc of core/ and services/ within "
      f"{LIMIT} lines")
sys.exit(1 if over else 0)
