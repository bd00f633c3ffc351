#!/usr/bin/env python3
"""Fail when the documentation cites a file or a test that does not exist.

README.md, docs/*.md, CHANGELOG.md and the crates' READMEs name files
(`crates/stats/src/view/mod.rs`), tests (`tests/some_test.rs::a_case`)
and link to pages (`[semantics](docs/semantics.md)`). Code moves; these
citations do not move with it. This script checks that every cited path
that starts at the repository root exists, that every `path::name` names a
function or module in that file, and that every relative link resolves
from the page that holds it.

Bare file names (`retry_after_is_honoured.rs`) are not checked: they are
names, not paths. A path is read from the root, so a crate's own `tests/`
or `src/` must be written in full (`crates/exporter-http/tests/...`).

Usage: .ci/check-doc-paths.py   (from anywhere; prints every broken citation)
"""

import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TOP = ("crates/", "tests/", "src/", "examples/", "benches/", "docs/", "fuzz/", ".ci/")
# `path`, `path::name`, `path::{a, b}`, or `…::name` (the last path again).
CITATION = re.compile(r"`((?:[\w.-]+/)*[\w.{},-]+\.(?:rs|md|py|toml)|…)((?:::[\w{}, ]+)*)`")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def expand(path):
    """crates/core/src/{name,view}.rs -> both paths."""
    match = re.search(r"\{([^}]*)\}", path)
    if not match:
        return [path]
    return [
        expanded
        for part in match.group(1).split(",")
        for expanded in expand(path[: match.start()] + part.strip() + path[match.end() :])
    ]


def defines(source, name):
    return re.search(r"\b(?:fn|mod)\s+" + re.escape(name) + r"\b", source) is not None


def check(page):
    problems = []
    text = open(os.path.join(ROOT, page), encoding="utf-8").read()
    last = None
    for line_number, line in enumerate(text.splitlines(), 1):
        for match in CITATION.finditer(line):
            cited, names = match.group(1), match.group(2)
            if cited == "…":
                if last is None or not names:
                    continue
                paths = last
            else:
                if not cited.startswith(TOP):
                    last = None
                    continue
                paths = expand(cited)
                last = paths
            for path in paths:
                full = os.path.join(ROOT, path)
                if not os.path.isfile(full):
                    problems.append(f"{page}:{line_number}: `{path}` does not exist")
                    continue
                wanted = [n.strip() for n in re.split(r"[{},]|::", names) if n.strip()]
                if wanted and wanted[-1] == "tests":
                    wanted = []
                source = open(full, encoding="utf-8").read()
                for name in wanted:
                    if name != "tests" and not defines(source, name):
                        problems.append(f"{page}:{line_number}: `{path}` has no fn or mod `{name}`")
        for match in LINK.finditer(line):
            target = match.group(1)
            if re.match(r"^[a-z]+:", target):
                continue
            if not os.path.exists(os.path.join(ROOT, os.path.dirname(page), target)):
                problems.append(f"{page}:{line_number}: link to `{target}` does not resolve")
    return problems


def main():
    pages = ["README.md", "CHANGELOG.md"]
    pages += sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
    pages += sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "crates", "*", "README.md")))
    problems = [problem for page in pages for problem in check(page)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-doc-paths: {len(problems)} citation(s) point nowhere")
        return 1
    print(f"check-doc-paths: every cited path and test in {len(pages)} pages exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
