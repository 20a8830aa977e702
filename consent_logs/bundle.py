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

This module needs only the standard library, ``cryptography`` and this package's pure
modules: ``python -m consent_logs verify BUNDLE`` runs anywhere.
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
from typing import IO, Any, Callable, Iterator

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
CHUNK = 2**20
PARALLEL_FROM = 20_000  # records in a bundle from which worker processes parse them
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


def json_lines(handle: IO[bytes], member: str) -> Iterator[dict[str, Any]]:
    number = 0
    while line := handle.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise VerificationError(f"{member} line {number}", f"longer than {MAX_LINE} bytes")
        if line.strip():
            try:
                yield json.loads(line)
            except (ValueError, RecursionError) as error:
                raise VerificationError(f"{member} line {number}", f"not JSON: {error}") from None


class Entry:
    """One records.jsonl line: the record's raw bytes (a line as the export writes it) or
    the whole line parsed."""

    __slots__ = ("seal", "position", "raw", "parsed")

    def __init__(self, seal: Any, position: Any, raw: bytes | None,
                 parsed: dict[str, Any] | None):
        self.seal, self.position, self.raw, self.parsed = seal, position, raw, parsed

    def get(self, name: str) -> Any:
        return getattr(self, name) if name in ("seal", "position") else None

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


def record_entries(handle: IO[bytes], member: str = "records.jsonl") -> Iterator[Entry]:
    for number, line in enumerate(lines_of(handle, member), 1):
        found = RECORD_LINE.match(line)
        if found and line.endswith(b"}"):
            yield Entry(int(found[1]), int(found[2]), line[found.end():-1], None)
        elif line.strip():
            try:
                parsed = json.loads(line)
            except (ValueError, RecursionError) as error:
                raise VerificationError(f"{member} line {number}", f"not JSON: {error}") from None
            yield Entry(parsed.get("seal"), parsed.get("position"), None, parsed)


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
        self.checker = SealedRecords(self.summary.site, configs, self.summary,
                                     self.workers(manifest))
        try:
            with self.zip.open("seals.jsonl") as seals, \
                    self.zip.open("records.jsonl") as records:
                try:
                    self.check_seals(json_lines(seals, "seals.jsonl"),
                                     Peekable(record_entries(records)), keys, configs)
                except (VerificationError, *MALFORMED):
                    self.checker.drain()  # a failure of a record before this one comes first
                    raise
            self.checker.drain()
        finally:
            self.checker.close()
        self.check_counts(manifest["counts"])
        return self.summary

    def workers(self, manifest: dict[str, Any]) -> int:
        """Worker processes for parsing records: one per core, for a bundle large enough
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

    def check_seals(self, seals, records: "Peekable", keys, configs) -> None:
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
        leftover = records.peek()
        if leftover is not None:
            raise VerificationError(
                f"record {entry_leaf(leftover.whole())[0]}", f"claims seal {leftover.seal}, "
                "which does not list this site's records")

    def check_share(self, number: int, leaves: list[str], records: "Peekable", configs) -> None:
        entries = records.take(number, len(leaves))
        sha256, fast, items = hashlib.sha256, self.checker, []
        for place, (entry, expected_leaf) in enumerate(zip(entries, leaves)):
            raw = entry.raw
            if raw is not None and sha256(b"\x00" + raw).hexdigest() == expected_leaf:
                # the sealed bytes themselves: the record is what was sealed; parsing and
                # checking it may go to another core (SealedRecords)
                items.append((number, place, entry.position, raw))
                continue
            fast.add(items)  # the records before this one go first
            items = []
            self.where = f"record {place + 1} of this site in seal {number}"
            self.check_entry(number, entry, expected_leaf, leaves, configs)
        fast.add(items)
        if len(entries) < len(leaves):
            missing = len(entries)
            raise VerificationError(
                f"seal {number}", f"record {missing + 1} of {len(leaves)} of this "
                f"site is missing (leaf {leaves[missing][:16]}…)")

    def check_entry(self, number: int, entry: Entry, expected_leaf: str, leaves: list[str],
                    configs) -> None:
        """A tombstone, or a line not as the export writes it: parsed whole, the record
        re-encoded canonically."""
        line = entry.whole()
        receipt_id, leaf = entry_leaf(line)
        where = f"record {receipt_id} (seal {number}, position {line.get('position')})"
        self.where = where
        if leaf != expected_leaf:
            hint = ("changed, or out of order" if leaf not in leaves
                    else "out of order, or a record before it is missing")
            raise VerificationError(where, f"does not match its sealed leaf: {hint}")
        if "record" in line:
            check_record(line["record"], where, self.summary.site, configs)
            self.summary.records += 1
        else:
            self.summary.tombstones += 1


def check_record(record: dict[str, Any], where: str, site: str,
                 configs: dict[tuple[str, int], str]) -> None:
    """Everything checked of one record, given as parsed from bytes that match its sealed
    leaf: it belongs to the site and names a configuration in the bundle by its hash.
    Every record of the bundle comes through here, once; a further check of a record's
    content belongs here too. It may run in a worker process: it must use only its
    arguments, and report a failure by raising VerificationError (``where`` names the
    record) or one of MALFORMED."""
    if record.get("site") != site:
        raise VerificationError(where, f"belongs to site {record.get('site')!r}")
    shown = configs.get((record["site"], record["config_version"]))
    if shown is None:
        raise VerificationError(where, f"configuration v{record['config_version']} is "
                                       "not in the bundle")
    if shown != record["config_hash"]:
        raise VerificationError(where, "config_hash differs from the configuration shown")
    if "tcf" in record:  # the TC string signalled must say what the receipt records
        problem = check_receipt_tcf(record["tcf"]) if isinstance(record["tcf"], dict) \
            else "tcf is not an object"
        if problem:
            raise VerificationError(where, f"its TC string disagrees with it: {problem}")


Item = tuple[int, int, int, bytes]  # seal, place in the site's share, position, raw bytes
Failure = tuple[str, str]  # where, why


def parse_sealed(raw: bytes) -> Any:
    """A record's sealed bytes as JSON: with orjson, a dependency of the package, when it is
    installed (three times as fast, and parsing is most of a verification), else with the
    standard library; what orjson refuses the standard library decides, so both accept and
    refuse the same."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw.decode("utf-8"))


def check_sealed(site: str, configs: dict[tuple[str, int], str],
                 items: list[Item]) -> tuple[int, Failure | None]:
    """Parse and check records whose bytes match their sealed leaves, in order: how many
    passed, and the first failure (where, why), if any."""
    for done, (number, place, position, raw) in enumerate(items):
        where = f"record {place + 1} of this site in seal {number}"
        try:
            record = parse_sealed(raw)
            where = f"record {record.get('receipt_id', '?')} (seal {number}, position {position})"
            check_record(record, where, site, configs)
        except VerificationError as error:
            return done, (error.where, error.why)
        except (*MALFORMED, RecursionError) as error:
            return done, (where, malformed(error))
    return len(items), None


class SealedRecords:
    """The records whose bytes matched their sealed leaves, parsed and checked in batches:
    on a machine with several cores by worker processes, while this process goes on reading
    and hashing the next lines (parsing JSON is most of a verification's time); else here.
    Failures are reported in bundle order: ``drain`` waits for every batch handed out,
    and is called before any failure found later in the bundle is reported."""

    BATCH = 2_000
    IN_FLIGHT = 4  # batches handed out and not yet answered, at most: memory stays flat

    def __init__(self, site: str, configs: dict[tuple[str, int], str], summary: Summary,
                 workers: int):
        self.site, self.configs, self.summary = site, configs, summary
        self.items: list[Item] = []
        self.pending: deque = deque()
        self.pool = None
        self.closed = False
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(workers)

    def add(self, items: list[Item]) -> None:
        """Records to check, in bundle order, after those added before."""
        if self.closed:
            return
        self.items.extend(items)
        while len(self.items) >= self.BATCH:
            self.hand_out()

    def hand_out(self) -> None:
        items, self.items = self.items[:self.BATCH], self.items[self.BATCH:]
        if not items:
            return
        if self.pool is None:
            self.settle(check_sealed(self.site, self.configs, items))
            return
        self.pending.append(self.pool.submit(check_sealed, self.site, self.configs, items))
        while len(self.pending) > self.IN_FLIGHT:
            self.settle(self.pending.popleft().result())

    def drain(self) -> None:
        while self.items:
            self.hand_out()
        while self.pending:
            self.settle(self.pending.popleft().result())

    def settle(self, answer: tuple[int, Failure | None]) -> None:
        passed, failure = answer
        self.summary.records += passed
        if failure is not None:
            self.close()
            raise VerificationError(*failure)

    def close(self) -> None:
        """Stop: after a failure nothing later in the bundle is checked or reported."""
        self.closed = True
        self.items.clear()
        if self.pool is not None:
            for future in self.pending:
                future.cancel()
            self.pending.clear()
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


class Peekable:
    def __init__(self, iterator: Iterator[dict[str, Any]]):
        self._iterator = iterator
        self._next: dict[str, Any] | None = None
        self._peeked = False

    def take(self, seal: int, most: int) -> list[Any]:
        """The next entries of this seal, ``most`` at most (fewer when the next is of
        another seal, or the member ends)."""
        taken = []
        entry = self.peek()
        if entry is None or entry.seal != seal:
            return taken
        taken.append(entry)
        self._peeked = False
        if most == 1:
            return taken
        for entry in self._iterator:  # the rest in one loop (a million records pass here)
            if entry.seal != seal:
                self._next, self._peeked = entry, True
                break
            taken.append(entry)
            if len(taken) == most:
                break
        return taken

    def peek(self) -> dict[str, Any] | None:
        if not self._peeked:
            self._next = next(self._iterator, None)
            self._peeked = True
        return self._next

    def __next__(self) -> dict[str, Any]:
        value = self.peek()
        self._peeked = False
        if value is None:
            raise StopIteration
        return value


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
