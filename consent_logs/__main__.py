"""python -m consent_logs verify BUNDLE: check a proof bundle offline.
python -m consent_logs render BUNDLE DIRECTORY: verify it, then write its records as
Kantara Consent Receipts (kantara.jsonl) and as a spreadsheet (records.csv).

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
    render = commands.add_parser(
        "render", help="verify a proof bundle, then write kantara.jsonl (Kantara Consent "
                       "Receipt v1.1 documents) and records.csv of its records")
    render.add_argument("bundle")
    render.add_argument("directory", help="where to write kantara.jsonl and records.csv")
    render.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    def progress(seals: int) -> None:
        if not args.quiet and seals % 10 == 0:
            print(f"checked {seals} seals", file=sys.stderr, flush=True)

    def rendered(records: int) -> None:
        if not args.quiet:
            print(f"rendered {records} records", file=sys.stderr, flush=True)

    try:
        if args.command == "render":
            from consent_logs.renderings import render_bundle

            summary = render_bundle(args.bundle, args.directory, rendered)
        else:
            summary = verify_bundle(args.bundle, progress)
    except VerificationError as error:
        print(f"FAILED: {error.where}: {error.why}")
        return 1
    except OSError as error:  # the renderings' directory: not writable, a file, a full disk
        if args.command != "render":
            raise
        print(f"cannot write the renderings into {args.directory}: {error.strerror or error}",
              file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line)
    print("OK: every record, seal and signature verifies")
    if args.command == "render":
        print(f"wrote {args.directory}/kantara.jsonl and {args.directory}/records.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
