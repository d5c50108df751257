"""Print (or compare) the SHA-256 of every deck a campaign would simulate, without simulating.

A refactoring that must not change behaviour keeps every deck byte-identical:
    .venv/bin/python scripts/deck_hashes.py default smoke > before.json    # on the old commit
    .venv/bin/python scripts/deck_hashes.py default smoke --compare before.json
Arguments are built-in campaign names or TOML files. Exit code 1 when --compare finds a difference.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def deck_hashes(names: list[str]) -> dict[str, str]:
    from campaigns import available, builtin
    from characterize.campaign import parse_campaign, plan

    out = {}
    for name in names:
        text = builtin(name) if name in available() else Path(name).read_text()
        for point in plan(parse_campaign(text, source=name)):
            out[f"{name}:{point.op}:{point.coords}"] = hashlib.sha256(point.spec.netlist().encode()).hexdigest()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="SHA-256 of every deck of the given campaigns")
    parser.add_argument("campaigns", nargs="+", help="built-in campaign names or TOML files")
    parser.add_argument("--compare", metavar="JSON", help="a file printed by an earlier run")
    args = parser.parse_args()
    now = deck_hashes(args.campaigns)
    if not args.compare:
        print(json.dumps(now, indent=0, sort_keys=True))
        return 0
    before = json.loads(Path(args.compare).read_text())
    diff = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
    for key in diff:
        print(f"differs: {key}")
    print(f"{len(now) - len(diff)} of {len(set(now) | set(before))} decks identical")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
