"""The proof bundle: what an auditor receives, and the offline check of it.

A bundle is one zip file for one site:

    manifest.json   format, site, requested period, what it covers, counts
    keys.json       the public keys that signed the seals
    seals.jsonl     every seal from the first on (body and signature); the seals that
                    hold the site's records also list the site's leaf hashes in order
    records.jsonl   the site's records (or tombstones) in those seals, in seal order; a
                    record's line holds its canonical bytes exactly as sealed
    configs.json    every configuration version the records refer to, as shown
    retention.json  the retention rules applied, and what the purge before export removed

The Kantara Consent Receipt v1.1 documents and the CSV are derived from the records and
the configurations, so a bundle does not store them: ``python -m consent_logs render
BUNDLE DIRECTORY`` verifies the bundle and writes ``kantara.jsonl`` and ``records.csv``
(consent_logs.renderings). Bundles of the first format, which stored them, still verify.

Each seal signs, per site, the count and Merkle root of that site's records in it, so the
bundle proves the site's records are complete and in order without revealing any other
site's records. A bundle always covers whole seals: records of the site issued just
outside the requested period but sealed together with records inside it are included.

Verifying is mostly reading records.jsonl, so it is read in blocks of whole lines and
each block is scanned apart from the seals: split into lines, every record's bytes hashed
as they are, parsed and checked (record_problem), every tombstone's leaf read. On a
machine with several cores worker processes scan blocks ahead while this process reads
the seals, checks their signatures, chain and site roots, and compares each seal's leaf
hashes with the scanned blocks', a run of lines at a time. A line whose leaf differs, or
that is not as the export writes it (a bundle of the first format's), is read and checked
here, as before; failures are reported in bundle order whoever finds them.

This module needs only the standard library, ``cryptography`` and this package's pure
modules (orjson, when installed, parses faster and accepts and refuses the same):
``python -m consent_logs verify BUNDLE`` runs anywhere.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, NamedTuple

try:
    import orjson
except ImportError:  # an auditor's Python without it verifies all the same, more slowly
    orjson = None

from consent_logs.canonical import canonical_json, content_hash
from consent_logs.keys import ALGORITHM, PublicKey, key_id_for, unb64url
from consent_logs.seals import (
    Seal,
    VerificationError,
    check_signature_and_link,
    check_site_share,
    record_leaf,
)
from consent_logs.tcstring import check_receipt_tcf

BUNDLE_FORMAT = "cmp-proof-bundle/2"
FORMATS = ("cmp-proof-bundle/1", BUNDLE_FORMAT)  # the first also stored the renderings
MEMBERS = ("manifest.json", "keys.json", "seals.jsonl", "records.jsonl", "configs.json",
           "retention.json")
# How the export compresses: deflate's fastest level still shrinks the records tenfold
# and costs a fraction of the slower levels' time (bench/README.md, Proof bundles).
COMPRESSION = {"compression": zipfile.ZIP_DEFLATED, "compresslevel": 1}
# A record's line as the export writes it: the record's stored bytes follow this prefix
# unchanged, so they are hashed as they are, never re-encoded. Any other line (a
# tombstone, or a line someone rewrote) is parsed whole and the record re-encoded.
RECORD_LINE = re.compile(rb'\{"seal":(0|[1-9]\d{0,17}),"position":(0|[1-9]\d{0,17}),"record":')
CHUNK = 2**20  # bytes read at a time from a member read line by line; a block of records
AHEAD = 2  # blocks of records per worker process read and scanned ahead, at most
PARALLEL_FROM = 20_000  # records in a bundle from which worker processes scan them
MAX_WORKERS = 4
# A hostile bundle is refused, never followed: JSON members and JSON lines have a size
# limit (a zip bomb is refused on its declared size or at its first overlong line), and
# any member of the wrong shape is reported as malformed where it was found.
MAX_JSON_MEMBER = 256 * 2**20
MAX_LINE = 16 * 2**20
MALFORMED = (KeyError, IndexError, TypeError, AttributeError, ValueError, RuntimeError,
             EOFError, zipfile.BadZipFile, zlib.error)


@dataclass
class Summary:
    site: str = ""
    seals: int = 0
    shares: int = 0
    records: int = 0
    tombstones: int = 0
    configs: int = 0
    keys: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"site {self.site}: {self.records} records and {self.tombstones} tombstones verified",
            f"{self.seals} seals chained and signed ({self.shares} hold this site's records)",
            f"{self.configs} configuration versions match their hashes",
            f"keys: {', '.join(self.keys)}",
        ]


def seal_lines(handle: IO[bytes]) -> Iterator[Any]:
    for number, line in enumerate(lines_of(handle, "seals.jsonl"), 1):
        if line.strip():
            try:
                yield parse_seal_line(line)
            except (ValueError, RecursionError) as error:
                raise VerificationError(f"seals.jsonl line {number}", f"not JSON: {error}") from None


# The standard library's json decides what the verifier reads. orjson, a dependency of the
# package, parses three times as fast when it is installed, but it refuses some JSON the
# standard library reads (NaN, lone surrogates, deep nesting) and reads an integer beyond
# 64 bits as a float: its answer is used only where it cannot differ.
SEAL_LINE = {"seal": int, "key_id": str, "body": str, "signature": str, "site_leaves": list}


def parse_seal_line(data: bytes) -> Any:
    """A seal's line as the standard library parses it: orjson's answer (a line lists
    thousands of leaves) when the line has the shape the export writes, whose only number
    orjson has read as an int, exactly."""
    if orjson is not None:
        try:
            line = orjson.loads(data)
        except orjson.JSONDecodeError:
            line = None
        if type(line) is dict \
                and all(type(value) is SEAL_LINE.get(name) for name, value in line.items()) \
                and set(map(type, line.get("site_leaves", ()))) <= {str}:
            return line
    return json.loads(data)


class Entry:
    """One records.jsonl line: the record's raw bytes (a line as the export writes it) or
    the whole line parsed."""

    __slots__ = ("seal", "position", "raw", "parsed")

    def __init__(self, seal: Any, position: Any, raw: bytes | None,
                 parsed: dict[str, Any] | None):
        self.seal, self.position, self.raw, self.parsed = seal, position, raw, parsed

    def whole(self) -> dict[str, Any]:
        """The line parsed (an export's line rebuilt from its raw record)."""
        if self.parsed is None:
            self.parsed = {"seal": self.seal, "position": self.position,
                           "record": json.loads(self.raw)}
        return self.parsed


def lines_of(handle: IO[bytes], member: str) -> Iterator[bytes]:
    """The member's lines (without their newline), read in large blocks; a line longer than
    MAX_LINE is refused as soon as it is found to be."""
    number, tail = 0, b""
    while block := handle.read(CHUNK):
        lines = (tail + block).split(b"\n")
        tail = lines.pop()
        for line in lines:
            number += 1
            if len(line) >= MAX_LINE:
                raise VerificationError(f"{member} line {number}", f"longer than {MAX_LINE} bytes")
            yield line
        if len(tail) > MAX_LINE:
            raise VerificationError(f"{member} line {number + 1}", f"longer than {MAX_LINE} bytes")
    if tail:
        yield tail


def record_entry(line: bytes, number: int, member: str = "records.jsonl") -> Entry | None:
    """A records.jsonl line as an Entry (None if it is blank)."""
    found = RECORD_LINE.match(line)
    if found and line.endswith(b"}"):
        return Entry(int(found[1]), int(found[2]), line[found.end():-1], None)
    if not line.strip():
        return None
    try:
        parsed = json.loads(line)
    except (ValueError, RecursionError) as error:
        raise VerificationError(f"{member} line {number}", f"not JSON: {error}") from None
    return Entry(parsed.get("seal"), parsed.get("position"), None, parsed)


def record_entries(handle: IO[bytes], member: str = "records.jsonl") -> Iterator[Entry]:
    for number, line in enumerate(lines_of(handle, member), 1):
        entry = record_entry(line, number, member)
        if entry is not None:
            yield entry


def malformed(error: Exception) -> str:
    """Why a member of the wrong shape cannot be checked, in words."""
    if isinstance(error, KeyError):
        return f"malformed: field {error.args[0]!r} is missing"
    if isinstance(error, RecursionError):
        return "malformed: nested too deeply"
    if isinstance(error, (zipfile.BadZipFile, zlib.error, EOFError)):
        return f"damaged zip member: {error}"
    return f"malformed: {error}"


def entry_leaf(entry: dict[str, Any]) -> tuple[str, str]:
    """(receipt id, leaf hash) of a records.jsonl entry: recomputed from the record's
    canonical bytes, or as the tombstone states it."""
    if "record" in entry:
        record = entry["record"]
        return record.get("receipt_id", "?"), record_leaf(canonical_json(record))
    tombstone = entry["tombstone"]
    return tombstone["receipt_id"], tombstone["leaf_hash"]


class BundleVerifier:
    def __init__(self, archive: zipfile.ZipFile, progress: Callable[[int], None] | None = None):
        self.zip = archive
        self.progress = progress
        self.summary = Summary()
        self.where = "bundle"  # what is being checked, for a malformed member's report

    def check_members(self) -> None:
        names = Counter(self.zip.namelist())
        doubled = sorted(name for name, count in names.items() if count > 1)
        if doubled:
            raise VerificationError(doubled[0], "appears twice in the bundle")
        for name in MEMBERS:
            if name not in names:
                raise VerificationError(name, "missing from the bundle")

    def read_json(self, name: str) -> Any:
        self.where = name
        if self.zip.getinfo(name).file_size > MAX_JSON_MEMBER:
            raise VerificationError(name, f"larger than {MAX_JSON_MEMBER} bytes")
        try:
            return json.loads(self.zip.read(name))
        except (ValueError, RecursionError) as error:
            raise VerificationError(name, f"not JSON: {error}") from None

    def run(self) -> Summary:
        self.check_members()
        manifest = self.read_json("manifest.json")
        if manifest.get("format") not in FORMATS:
            raise VerificationError("manifest.json", f"unknown format {manifest.get('format')!r}")
        self.summary.site = manifest["site"]
        keys = self.read_keys()
        self.summary.keys = sorted(keys)
        configs = self.check_configs()
        with self.zip.open("seals.jsonl") as seals, self.zip.open("records.jsonl") as records:
            blocks = ScannedBlocks(records, self.summary.site, configs, self.workers(manifest))
            try:
                self.check_seals(seal_lines(seals), RecordLines(blocks), keys, configs)
            finally:
                blocks.close()
        self.check_counts(manifest["counts"])
        return self.summary

    def workers(self, manifest: dict[str, Any]) -> int:
        """Worker processes for scanning records: one per core, for a bundle large enough
        to repay starting them (its manifest's count is only a hint: a wrong one costs
        time, never correctness)."""
        records = manifest.get("counts", {}).get("records") if isinstance(
            manifest.get("counts"), dict) else None
        if not isinstance(records, int) or records < PARALLEL_FROM:
            return 1
        return min(os.cpu_count() or 1, MAX_WORKERS)

    def check_counts(self, counts: dict[str, Any]) -> None:
        """The bundle holds what its manifest says it was exported with: records or seals
        cut from the end would otherwise leave a shorter bundle that still verifies."""
        for name in ("seals", "shares", "records", "tombstones", "configs"):
            found = getattr(self.summary, name)
            if counts[name] != found:
                raise VerificationError("manifest.json", f"counts {counts[name]!r} {name}, "
                                                         f"the bundle holds {found}")

    def read_keys(self) -> dict[str, PublicKey]:
        """The keys, each an Ed25519 key named by its own key id."""
        keys = {}
        for entry in self.read_json("keys.json")["keys"]:
            key = PublicKey(entry["kid"], entry["public_key"])
            if entry["alg"] != ALGORITHM or key_id_for(unb64url(key.public_key)) != key.key_id:
                raise VerificationError("keys.json", f"key {key.key_id!r} is not an {ALGORITHM} "
                                                     "key named by its key id")
            keys[key.key_id] = key
        return keys

    def check_configs(self) -> dict[tuple[str, int], str]:
        hashes = {}
        for version in self.read_json("configs.json")["versions"]:
            where = self.where = f"configuration {version['site']} v{version['number']}"
            if content_hash(version["content"]) != version["content_hash"]:
                raise VerificationError(where, "content does not match its hash")
            hashes[(version["site"], version["number"])] = version["content_hash"]
        self.summary.configs = len(hashes)
        return hashes

    def check_seals(self, seals, records: RecordLines, keys, configs) -> None:
        previous_root = None
        for expected_number, line in enumerate(seals, 1):
            self.where = f"seal {expected_number}"
            seal = Seal(line["seal"], 0, "", None, line["key_id"], line["body"], line["signature"])
            if seal.number != expected_number:
                raise VerificationError(f"seal {expected_number}", f"missing (found seal {seal.number})")
            body = check_signature_and_link(seal, keys, previous_root)
            previous_root = body["root"]
            if "site_leaves" in line:
                check_site_share(body, self.summary.site, line["site_leaves"])
                self.check_share(seal.number, line["site_leaves"], records, configs)
                self.summary.shares += 1
            self.summary.seals += 1
            if self.progress:
                self.progress(self.summary.seals)
        leftover = records.head()
        if isinstance(leftover, Run):
            leftover = leftover.block.entry(leftover.start)
        if leftover is not None:
            raise VerificationError(
                f"record {entry_leaf(leftover.whole())[0]}", f"claims seal {leftover.seal}, "
                "which does not list this site's records")

    def check_share(self, number: int, leaves: list[str], records: RecordLines,
                    configs) -> None:
        """The entries claiming this seal are, in order, the records and tombstones whose
        leaves it lists."""
        expected = sealed_digests(leaves)
        place = 0
        while place < len(leaves):
            taken = records.take(number, len(leaves) - place)
            if taken is None:
                break
            if isinstance(taken, Run):
                self.check_run(number, place, taken, expected, leaves, configs)
                place += len(taken)
            else:
                self.check_entry(number, place, taken, leaves, configs)
                place += 1
        if place < len(leaves):
            raise VerificationError(
                f"seal {number}", f"record {place + 1} of {len(leaves)} of this "
                f"site is missing (leaf {leaves[place][:16]}…)")

    def check_run(self, number: int, place: int, run: Run, expected: bytes | None,
                  leaves: list[str], configs) -> None:
        """A run of scanned lines from ``place`` in the share: as a whole when their leaves
        are the sealed ones and every record passed its scan's checks (the usual case),
        else line by line."""
        scan, start, end = run.block.scan, run.start, run.end
        if expected is not None and \
                run.leaves() == expected[32 * place:32 * (place + len(run))] \
                and not any(start <= index < end for index in scan.failures):
            records = scan.kinds.count(RECORD, start, end)
            self.summary.records += records
            self.summary.tombstones += len(run) - records
            return
        for offset in range(len(run)):
            self.check_line(number, place + offset, run, offset, leaves, configs)

    def check_line(self, number: int, place: int, run: Run, offset: int, leaves: list[str],
                   configs) -> None:
        """One scanned line: a record whose bytes are the sealed ones stands or falls by
        its scan's checks; any other is parsed and checked here."""
        block, index = run.block, run.start + offset
        scan = block.scan
        if scan.kinds[index] == RECORD and run.leaves(offset, 1).hex() == leaves[place]:
            failure = scan.failures.get(index)
            if failure is not None:
                where, why = failure
                raise VerificationError(
                    where or f"record {place + 1} of this site in seal {number}", why)
            self.summary.records += 1
            return
        self.check_entry(number, place, block.entry(index), leaves, configs)

    def check_entry(self, number: int, place: int, entry: Entry, leaves: list[str],
                    configs) -> None:
        """A tombstone, or a line not as the export writes it, or whose bytes differ from
        the sealed ones: parsed whole, the record re-encoded canonically."""
        self.where = f"record {place + 1} of this site in seal {number}"
        line = entry.whole()
        receipt_id, leaf = entry_leaf(line)
        where = f"record {receipt_id} (seal {number}, position {line.get('position')})"
        self.where = where
        if leaf != leaves[place]:
            hint = ("changed, or out of order" if leaf not in leaves
                    else "out of order, or a record before it is missing")
            raise VerificationError(where, f"does not match its sealed leaf: {hint}")
        if "record" in line:
            problem = record_problem(line["record"], self.summary.site, configs)
            if problem:
                raise VerificationError(where, problem)
            self.summary.records += 1
        else:
            self.summary.tombstones += 1


def record_problem(record: dict[str, Any], site: str,
                   configs: dict[tuple[str, int], str]) -> str | None:
    """What is wrong with one record, given as parsed from bytes that match its sealed
    leaf, if anything: it must belong to the site and name a configuration in the bundle
    by its hash. Every record of the bundle comes through here, once; a further check of a
    record's content belongs here too. It may run in a worker process: it must use only
    its arguments, and raise one of MALFORMED for a record of the wrong shape. (It names
    no record: the caller does, only when there is a problem to report.)"""
    if record.get("site") != site:
        return f"belongs to site {record.get('site')!r}"
    shown = configs.get((record["site"], record["config_version"]))
    if shown is None:
        return f"configuration v{record['config_version']} is not in the bundle"
    if shown != record["config_hash"]:
        return "config_hash differs from the configuration shown"
    if "tcf" in record:  # the TC string signalled must say what the receipt records
        problem = check_receipt_tcf(record["tcf"]) if isinstance(record["tcf"], dict) \
            else "tcf is not an object"
        if problem:
            return f"its TC string disagrees with it: {problem}"
    return None


# --- records.jsonl, scanned in blocks -------------------------------------------------------
#
# The verifier reads records.jsonl in blocks of whole lines. What can be found of a line
# without the seals is found by scan_block, in a worker process on a machine with several
# cores: a record's leaf hash, its parse and record_problem, a tombstone's stated leaf. The
# verifier then only compares each seal's leaf hashes with a block's, a run of lines at a
# time, and reads a line itself only where they differ or the line is not as the export
# writes it.

RECORD, TOMBSTONE, OTHER, BLANK, TOO_LONG = b"RTOBL"  # a line's kind in a Scan
BLANKS = re.compile(b"B*")  # consecutive blank lines, in a Scan's kinds
HEX_LEAF = re.compile(r"[0-9a-f]{64}")  # a leaf hash as a hexdigest writes it
Failure = tuple[Any, str]  # where (None: the record's place in its seal's share), why


class Scan(NamedTuple):
    """What scan_block found in a block of lines. ``kinds`` has one byte per line;
    ``runs`` are the records and tombstones, as [start, end, seal, first leaf]: the lines
    from start to end claim that seal, and their leaf hashes are 32 bytes each in
    ``leaves`` from the first; ``failures``: the records, by line, whose parse or
    record_problem failed. (Nothing is kept per line of any other kind but its kind: a
    block of blank lines takes no more memory than it did as text.)"""

    kinds: bytes
    leaves: bytes
    runs: list[list[int]]
    failures: dict[int, Failure]


def scan_block(site: str, configs: dict[tuple[str, int], str], head: bytes, body: bytes,
               end: int) -> Scan:
    """Scan the lines ``head + body[:end]``: every line's kind; a record's leaf hash (of
    its bytes as they are) and whether it parses and passes record_problem; a tombstone's
    stated leaf. Nothing here depends on the seals, so it may run in a worker process
    (it is most of a verification's work); it stops at a line longer than MAX_LINE."""
    lines = (head + body[:end]).split(b"\n")
    if not lines[-1]:
        lines.pop()  # after the last newline
    kinds, leaves, runs, failures = bytearray(), [], [], {}
    match, sha256 = RECORD_LINE.match, hashlib.sha256
    for index, line in enumerate(lines):
        if not line:  # at once: a zip bomb of newlines is millions of them
            kinds.append(BLANK)
            continue
        found = match(line) if len(line) < MAX_LINE else None
        if found and line.endswith(b"}"):
            raw = line[found.end():-1]
            kind, seal, leaf = RECORD, int(found[1]), sha256(b"\x00" + raw).digest()
            failure = check_sealed(site, configs, seal, found[2], raw)
            if failure is not None:
                failures[index] = failure
        else:
            kind, seal, leaf = scan_other(line)
        kinds.append(kind)
        if seal is None:
            if kind == TOO_LONG:
                break
            continue
        if runs and runs[-1][1] == index and runs[-1][2] == seal:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1, seal, len(leaves)])
        leaves.append(leaf)
    return Scan(bytes(kinds), b"".join(leaves), runs, failures)


def scan_other(line: bytes) -> tuple[int, int | None, bytes | None]:
    """(kind, seal, leaf) of a line not holding a record as the export writes it: a
    tombstone whose seal is a number and whose leaf hash is written as a hexdigest (so
    comparing digests is comparing the strings), else a line the verifier reads itself.
    (Parsed with orjson when installed: it makes a tombstone of no line the standard
    library would read otherwise, as it reads an int exactly or not as an int.)"""
    if len(line) >= MAX_LINE:
        return TOO_LONG, None, None
    if not line.strip():
        return BLANK, None, None
    try:
        entry = orjson.loads(line) if orjson is not None else json.loads(line)
    except (ValueError, RecursionError):
        return OTHER, None, None
    if type(entry) is not dict or "record" in entry:
        return OTHER, None, None
    seal, tombstone = entry.get("seal"), entry.get("tombstone")
    if type(seal) is not int or type(tombstone) is not dict or "receipt_id" not in tombstone:
        return OTHER, None, None
    leaf = tombstone.get("leaf_hash")
    if type(leaf) is not str or not HEX_LEAF.fullmatch(leaf):
        return OTHER, None, None
    return TOMBSTONE, seal, bytes.fromhex(leaf)


def parse_standard(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))


def check_sealed(site: str, configs: dict[tuple[str, int], str], seal: int,
                 position: bytes, raw: bytes) -> Failure | None:
    """Parse and check a record's bytes as the export writes them; the failure, if any (it
    counts only if the bytes turn out to match their sealed leaf). Parsed with orjson when
    installed (parsing is most of a verification); a record it fails is parsed again by
    the standard library, which decides, and names the failure as it reads the record. (A
    record orjson passes, the standard library passes too: every number record_problem
    compares a record's with is one a record must state within 64 bits to pass.)"""
    if orjson is None:
        return sealed_failure(site, configs, seal, position, raw, parse_standard)
    if sealed_failure(site, configs, seal, position, raw, orjson.loads) is None:
        return None
    return sealed_failure(site, configs, seal, position, raw, parse_standard)


def sealed_failure(site: str, configs: dict[tuple[str, int], str], seal: int,
                   position: bytes, raw: bytes, parse: Callable[[bytes], Any]) -> Failure | None:
    try:
        record = parse(raw)
        receipt_id = record.get("receipt_id", "?")
    except (*MALFORMED, RecursionError) as error:
        return None, malformed(error)
    try:
        problem = record_problem(record, site, configs)
    except (*MALFORMED, RecursionError) as error:
        problem = malformed(error)
    if problem:
        return f"record {receipt_id} (seal {seal}, position {position.decode()})", problem
    return None


class OverlongLine(Exception):
    """records.jsonl's next line is longer than MAX_LINE bytes (reported with its number
    where the verifier reaches it)."""


def whole_lines(handle: IO[bytes]) -> Iterator[tuple[bytes, bytes, int]]:
    """records.jsonl in blocks of whole lines, each (head, body, end): its lines are
    ``head + body[:end]`` (the body as read, not copied; the head is the start of the line
    the previous block ended in). The last line may lack its newline. A line found longer
    than MAX_LINE before its end stops the reading: OverlongLine."""
    head = b""
    while body := handle.read(CHUNK):
        end = body.rfind(b"\n") + 1
        if end:
            yield head, body, end
            head = body[end:]
        else:
            head += body
        if len(head) > MAX_LINE:
            raise OverlongLine
    if head:
        yield head, b"", 0


class Block:
    """A block of records.jsonl's lines and its scan; the lines are split here only when
    one of them must be read here."""

    __slots__ = ("head", "body", "end", "scan", "first", "_lines")

    def __init__(self, head: bytes, body: bytes, end: int, scan: Any):
        self.head, self.body, self.end, self.scan = head, body, end, scan
        self.first = 1  # the number of its first line in records.jsonl
        self._lines: list[bytes] | None = None

    def line(self, index: int) -> bytes:
        if self._lines is None:
            self._lines = (self.head + self.body[:self.end]).split(b"\n")
        return self._lines[index]

    def entry(self, index: int) -> Entry | None:
        """A line parsed here (None if blank)."""
        return record_entry(self.line(index), self.first + index)


class ScannedBlocks:
    """records.jsonl's blocks in order, each with its scan. On a machine with several cores
    worker processes scan the blocks ahead (AHEAD each, at most: memory stays flat) while
    the verifier compares the blocks before them with the seals. A block that cannot be
    read (a damaged member, a line longer than MAX_LINE) is reported when the verifier
    reaches it, not when it is read ahead: everything before it is checked first."""

    def __init__(self, handle: IO[bytes], site: str, configs: dict[tuple[str, int], str],
                 workers: int):
        self.reads = whole_lines(handle)
        self.checking = (site, configs)
        self.ahead: deque[Block] = deque()
        self.stop: BaseException | None = None
        self.pool = None
        self.most_ahead = 1
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(workers)
            self.most_ahead = AHEAD * workers

    def next(self) -> Block | None:
        """The next block, scanned; None after the last."""
        self.read_ahead()
        if not self.ahead:
            if self.stop is not None:
                raise self.stop
            return None
        block = self.ahead.popleft()
        block.scan = block.scan.result() if self.pool is not None else \
            scan_block(*self.checking, block.head, block.body, block.end)
        self.read_ahead()
        return block

    def read_ahead(self) -> None:
        """Read blocks, and hand them to the workers, until enough are ahead."""
        while self.reads is not None and len(self.ahead) < self.most_ahead:
            try:
                head, body, end = next(self.reads)
            except StopIteration:
                self.reads = None
                return
            except (OverlongLine, *MALFORMED) as error:
                self.reads, self.stop = None, error
                return
            scan = None if self.pool is None else \
                self.pool.submit(scan_block, *self.checking, head, body, end)
            self.ahead.append(Block(head, body, end, scan))

    def close(self) -> None:
        """Stop: after a failure nothing later in the bundle is scanned."""
        self.reads = None
        self.ahead.clear()
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


class Run:
    """Consecutive lines of one block, records and tombstones of one seal, as scanned;
    ``leaf``: where the first one's leaf hash is in the scan's leaves."""

    __slots__ = ("block", "start", "end", "seal", "leaf")

    def __init__(self, block: Block, start: int, end: int, seal: int, leaf: int):
        self.block, self.start, self.end, self.seal, self.leaf = block, start, end, seal, leaf

    def __len__(self) -> int:
        return self.end - self.start

    def leaves(self, offset: int = 0, count: int | None = None) -> bytes:
        """The leaf hashes of ``count`` lines (all) from ``offset``, 32 bytes each."""
        first = self.leaf + offset
        last = self.leaf + len(self) if count is None else first + count
        return self.block.scan.leaves[32 * first:32 * last]


class RecordLines:
    """records.jsonl's entries in order, for each seal's share to take: runs of scanned
    lines, and any other line parsed here as an Entry. Blank lines are passed over; a line
    that cannot be read is reported when it is reached."""

    def __init__(self, blocks: ScannedBlocks):
        self.blocks = blocks
        self.block: Block | None = None
        self.index = 0  # the next line of self.block
        self.run = 0  # the first of self.block's scan's runs not wholly before it
        self.lines = 0  # lines of records.jsonl in the blocks before
        self.entry: Entry | None = None  # a line parsed here, not yet taken

    def take(self, seal: int, most: int) -> Run | Entry | None:
        """The next entries, if they claim this seal: a run of at most ``most`` lines, or
        a line parsed here; None when the next claims another seal, or there is none."""
        head = self.head()
        if head is None or head.seal != seal:
            return None
        if isinstance(head, Entry):
            self.entry = None
            return head
        head.end = min(head.end, head.start + most)
        self.index = head.end
        return head

    def head(self) -> Run | Entry | None:
        """The next entry, not taken: the run of scanned lines from here, or a line
        parsed here; None after the last."""
        while self.entry is None:
            if self.block is None or self.index == len(self.block.scan.kinds):
                if not self.next_block():
                    return None
                continue
            kind = self.block.scan.kinds[self.index]
            if kind == RECORD or kind == TOMBSTONE:
                return self.run_here()
            if kind == BLANK:
                self.index = BLANKS.match(self.block.scan.kinds, self.index).end()
                continue
            self.read_line()
        return self.entry

    def run_here(self) -> Run:
        """The rest of the run of records and tombstones holding the next line."""
        runs = self.block.scan.runs
        while runs[self.run][1] <= self.index:
            self.run += 1
        start, end, seal, leaf = runs[self.run]
        return Run(self.block, self.index, end, seal, leaf + self.index - start)

    def read_line(self) -> None:
        """The next line, neither a record nor a tombstone as scanned, nor blank: refused
        if too long, else parsed into self.entry."""
        block, index = self.block, self.index
        self.index += 1
        if block.scan.kinds[index] == TOO_LONG:
            raise VerificationError(f"records.jsonl line {block.first + index}",
                                    f"longer than {MAX_LINE} bytes")
        self.entry = block.entry(index)

    def next_block(self) -> bool:
        if self.block is not None:
            self.lines += len(self.block.scan.kinds)
        try:
            self.block = self.blocks.next()
        except OverlongLine:
            raise VerificationError(f"records.jsonl line {self.lines + 1}",
                                    f"longer than {MAX_LINE} bytes") from None
        if self.block is None:
            return False
        self.block.first = self.lines + 1
        self.index = self.run = 0
        return True


def sealed_digests(leaves: list[str]) -> bytes | None:
    """A share's leaf hashes as bytes, to compare with a block's a run at a time, when each
    is written as a hexdigest (else None: each line is compared as a string)."""
    if set(map(len, leaves)) != {64}:
        return None
    joined = "".join(leaves)
    try:
        digests = bytes.fromhex(joined)
    except ValueError:
        return None
    return digests if digests.hex() == joined else None


def verify_bundle(path: str, progress: Callable[[int], None] | None = None) -> Summary:
    """Check a bundle completely; raise VerificationError naming the first failure."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise VerificationError(str(path), f"not a readable bundle: {error}") from None
    with archive:
        verifier = BundleVerifier(archive, progress)
        try:
            return verifier.run()
        except MALFORMED as error:
            raise VerificationError(verifier.where, malformed(error)) from None
