#!/usr/bin/env python3
"""The layering rule, checked on every include of core/ and services/.

- core/ includes only core/, abseil ("absl/...") and the standard library.
- An adapter (services/<name>/, but for services/app, the wiring) includes
  core/, abseil, services/codec/, services/common/, its own files, the
  generated protocol ("crm/v1/...") and third-party libraries (<...>), never
  another adapter.

Prints each violation as FILE:LINE: what and why, and exits 1 on any.
Usage: scripts/check-layering.py [ROOT] (default: the repository).
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SHARED = ("services/codec/", "services/common/")
WIRING = "services/app/"


def is_standard(header: str) -> bool:
    # <vector>, <cstdint>, <chrono>...: no directory and no extension.
    return "/" not in header and "." not in header


def problems(root: pathlib.Path, path: pathlib.Path):
    relative = path.relative_to(root).as_posix()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = INCLUDE.match(line)
        if not match:
            continue
        quoted, header = match.group(1) == '"', match.group(2)
        where = f"{relative}:{number}: #include {line.strip().split(None, 1)[-1]}"
        if relative.startswith("core/"):
            if quoted and not header.startswith(("core/", "absl/")):
                yield f"{where}: core includes only core/, abseil and the standard library"
            elif not quoted and not is_standard(header):
                yield f"{where}: core includes only core/, abseil and the standard library"
            continue
        if relative.startswith(WIRING) or not quoted:
            continue
        own = "/".join(relative.split("/")[:2]) + "/"
        if header.startswith("services/") and not header.startswith(SHARED + (own,)):
            yield (f"{where}: an adapter includes core, services/codec and services/common, "
                   f"never another adapter")
        elif header.startswith(("tools/", "tests/", "bench/")):
            yield f"{where}: the service does not include {header.split('/')[0]}/"


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
    found = [
        problem
        for directory in ("core", "services")
        for path in sorted((root / directory).rglob("*"))
        if path.suffix in (".h", ".cc")
        for problem in problems(root, path)
    ]
    for problem in found:
        print(problem)
    if found:
        print(f"check-layering: {len(found)} include(s) break the layering (docs/development.md)")
        return 1
    print("check-layering: core and the adapters keep to their layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
