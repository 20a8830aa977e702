"""python -m consent_logs verify BUNDLE: check a proof bundle offline.

Exit status 0 when everything verifies, 1 naming the first record or seal that does not,
2 for a usage error.
"""
from __future__ import annotations

import argparse
import sys

from consent_logs.bundle import verify_bundle
from consent_logs.seals import VerificationError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consent_logs")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check a proof bundle offline")
    verify.add_argument("bundle")
    verify.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    def progress(seals: int) -> None:
        if not args.quiet and seals % 10 == 0:
            print(f"checked {seals} seals", file=sys.stderr, flush=True)

    try:
        summary = verify_bundle(args.bundle, progress)
    except VerificationError as error:
        print(f"FAILED: {error.where}: {error.why}")
        return 1
    for line in summary.lines():
        print(line)
    print("OK: every record, seal and signature verifies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
