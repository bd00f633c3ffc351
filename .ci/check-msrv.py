#!/usr/bin/env python3
"""Fail when a locked dependency needs a newer Rust than the workspace claims.

The workspace's `rust-version` (its MSRV) is a promise that every package in
Cargo.lock builds on that Rust. Each dependency states its own minimum in
its manifest's `rust-version`, which `cargo metadata` reports. This script
reads whatever the lock holds when it runs, so a dependency added or
upgraded later is judged too, and prints every package that breaks the
promise with the path from a workspace crate that pulls it in.

Packages that declare no `rust-version` cannot be judged here; they are
counted, not failed. clippy's `incompatible_msrv` lint checks the
workspace's own use of the standard library against the same number.

Usage: .ci/check-msrv.py [--print] [path/to/Cargo.toml]
  --print   print the workspace's MSRV (for `rustup toolchain install`) and exit
"""

import json
import subprocess
import sys


def parse_version(text):
    """'1.85' or '1.71.0' -> (1, 85, 0), comparable as a tuple."""
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def show(version):
    """(1, 85, 0) -> '1.85', as manifests usually write it."""
    text = ".".join(str(part) for part in version)
    return text[:-2] if text.endswith(".0") else text


def metadata(manifest):
    command = ["cargo", "metadata", "--format-version", "1", "--all-features"]
    if manifest:
        command += ["--manifest-path", manifest]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(output)


def chains_from_members(meta):
    """For each package id, a chain of dependencies that reaches it from a
    workspace member, and whether users build it ('normal': reached through
    normal and build dependencies) or only contributors ('dev': reached
    through a member's dev-dependency)."""
    names = {package["id"]: package["name"] for package in meta["packages"]}
    nodes = {node["id"]: node for node in meta["resolve"]["nodes"]}

    def edges(package_id, kinds):
        for dep in nodes[package_id]["deps"]:
            if {k["kind"] or "normal" for k in dep["dep_kinds"]} & kinds:
                yield dep["pkg"]

    chains = {}
    for reach, first_edges in (("normal", {"normal", "build"}), ("dev", {"dev"})):
        frontier = []
        for member in meta["workspace_members"]:
            for dep in edges(member, first_edges):
                if dep not in chains:
                    chains[dep] = ([names[member], names[dep]], reach)
                    frontier.append(dep)
        # Beyond the first edge only normal and build dependencies get built.
        while frontier:
            current = frontier.pop(0)
            for dep in edges(current, {"normal", "build"}):
                if dep not in chains:
                    chains[dep] = (chains[current][0] + [names[dep]], reach)
                    frontier.append(dep)
    return chains


def main():
    args = sys.argv[1:]
    print_only = "--print" in args
    args = [arg for arg in args if arg != "--print"]
    meta = metadata(args[0] if args else None)
    members = set(meta["workspace_members"])
    packages = meta["packages"]

    claims = {}
    for package in packages:
        if package["id"] in members:
            if not package.get("rust_version"):
                print(f"check-msrv: {package['name']} declares no rust-version", file=sys.stderr)
                return 1
            claims[package["name"]] = parse_version(package["rust_version"])
    # Cargo's MSRV-aware resolver and its users go by the lowest claim.
    msrv = min(claims.values())
    if print_only:
        print(show(msrv))
        return 0

    chains = chains_from_members(meta)
    too_new = []
    undeclared = []
    newest = (0, 0, 0)
    for package in packages:
        if package["id"] in members:
            continue
        declared = package.get("rust_version")
        if not declared:
            undeclared.append(package["name"])
            continue
        needs = parse_version(declared)
        newest = max(newest, needs)
        if needs > msrv:
            names, kind = chains.get(package["id"], ([package["name"]], "unknown"))
            too_new.append((needs, package["name"], package["version"], kind, " -> ".join(names)))

    checked = len(packages) - len(members)
    if too_new:
        print(f"check-msrv: the workspace claims Rust {show(msrv)}, but the lock holds "
              f"{len(too_new)} package(s) that need a newer one:")
        for needs, name, version, kind, chain in sorted(too_new, reverse=True):
            print(f"  {name} {version} needs Rust {show(needs)} ({kind} dependency: {chain})")
        print("Pin an older version (with the workspace's resolver = \"3\", `cargo update -p NAME`\n"
              "picks the newest one that supports the MSRV), or raise rust-version in the root\n"
              "Cargo.toml and say so in CHANGELOG.md.")
        return 1
    print(f"check-msrv: Rust {show(msrv)} covers all {checked} locked dependencies "
          f"(the newest need {show(newest)}; {len(undeclared)} declare no rust-version)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
