"""Load from wrk, shared by the benchmarks (bench/api.py) and the stress suite (stress/).

``run_wrk`` writes a Lua script for the request, optionally paced to a target rate, with
each request coming from one of many client addresses (X-Forwarded-For, for a server told
to trust one proxy hop, as it would be behind a load balancer), and optionally saving the
receipt id of every 201 answer, so the stress suite can reconcile answers with the ledger.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# 32,768 public addresses in a Swedish university's range: realistic geo lookups, and few
# enough requests per address and minute to stay under the per-client rate limit.
CLIENTS_LUA = """
local counter = 0
local function client()
  counter = counter + 1
  local n = (counter * 7919 + thread_id * 104729) % 32768
  return string.format("130.237.%d.%d", math.floor(n / 256), n % 256)
end
"""

PACE_LUA = """
function delay()
  return {delay_ms}
end
"""

RECORD_LUA = """
local out = nil
function response(status, headers, body)
  if status == 201 then
    if out == nil then out = io.open(record_dir .. "/ids-" .. thread_id .. ".txt", "a") end
    local id = string.match(body, '"receipt_id":"([0-9a-f-]+)"')
    if id then out:write(id, "\\n"); out:flush() end
  end
end
"""

SETUP_LUA = """
local threads_made = 0
function setup(thread)
  threads_made = threads_made + 1
  thread:set("thread_id", threads_made)
  thread:set("record_dir", {record_dir})
end
"""


@dataclass
class Result:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers plus socket errors and timeouts
    socket_errors: int


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def lua_script(method: str, body: str | None, headers: dict[str, str] | None,
               many_clients: bool, rate: float | None, connections: int,
               record_dir: Path | None) -> str:
    parts = [SETUP_LUA.replace("{record_dir}", json.dumps(str(record_dir or "")))]
    parts.append(f"wrk.method = {json.dumps(method)}\n")
    if body is not None:
        parts.append(f"wrk.body = {json.dumps(body)}\n")
    for name, value in (headers or {}).items():
        parts.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
    if many_clients:
        parts.append(CLIENTS_LUA)
        parts.append("function request()\n  wrk.headers['X-Forwarded-For'] = client()\n"
                     "  return wrk.format()\nend\n")
    if rate:
        # each connection waits so that all of them together send about ``rate`` a second
        parts.append(PACE_LUA.replace("{delay_ms}", str(max(1, round(connections * 1000 / rate)))))
    if record_dir is not None:
        parts.append(RECORD_LUA)
    return "".join(parts)


def run_wrk(url: str, seconds: float, connections: int, method: str = "GET",
            body: str | None = None, headers: dict[str, str] | None = None,
            many_clients: bool = False, rate: float | None = None,
            record_dir: Path | None = None, threads: int = 2) -> Result:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    with script:
        script.write(lua_script(method, body, headers, many_clients, rate, connections,
                                record_dir))
    try:
        output = subprocess.run(
            ["wrk", "--latency", "-t", str(threads), "-c", str(connections),
             "-d", f"{max(1, round(seconds))}s", "--timeout", "10s", "-s", script.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    return parse(output)


def parse(output: str) -> Result:
    non_2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    sockets = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    p50 = re.search(r"\s50%\s+(\S+)", output)
    p99 = re.search(r"\s99%\s+(\S+)", output)
    return Result(
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=to_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=to_ms(p99.group(1)) if p99 else float("nan"),
        errors=non_2xx + sockets,
        socket_errors=sockets,
    )


def recorded_ids(record_dir: Path) -> list[str]:
    """Receipt ids of every 201 answer wrk saw."""
    return [line for path in sorted(record_dir.glob("ids-*.txt"))
            for line in path.read_text().split()]


@dataclass(frozen=True)
class Usage:
    """What a tree of processes has used so far: CPU seconds (user and system), and
    context switches (voluntary and not) of the threads it has now."""
    cpu_seconds: float
    switches: int

    def __sub__(self, earlier: Usage) -> Usage:
        return Usage(self.cpu_seconds - earlier.cpu_seconds, self.switches - earlier.switches)


def process_tree_usage(roots: list[int]) -> Usage:
    """What the processes ``roots`` and their descendants (gunicorn's workers,
    PostgreSQL's backends) have used so far, read from /proc."""
    ticks = process_tree_ticks(roots)
    return Usage(sum(ticks.values()) / os.sysconf("SC_CLK_TCK"),
                 sum(thread_switches(pid) for pid in ticks))


def process_tree_ticks(roots: list[int]) -> dict[int, int]:
    """CPU clock ticks (user and system) of each process in the trees under ``roots``."""
    parents, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    tree = {pid for pid in roots if pid in ticks}
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return {pid: ticks[pid] for pid in tree}


@dataclass(frozen=True)
class MachineTime:
    """The whole machine's CPU time so far, in clock ticks of all its CPUs: idle (waiting
    for I/O included), and all of it."""
    idle: int
    total: int

    def __sub__(self, earlier: MachineTime) -> MachineTime:
        return MachineTime(self.idle - earlier.idle, self.total - earlier.total)

    def __add__(self, other: MachineTime) -> MachineTime:
        return MachineTime(self.idle + other.idle, self.total + other.total)

    @property
    def idle_share(self) -> float:
        return self.idle / self.total if self.total else 0.0


def machine_time() -> MachineTime:
    """From the first line of /proc/stat: user nice system idle iowait irq softirq steal
    (guest time is already counted in user)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return MachineTime(idle=ticks[3] + ticks[4], total=sum(ticks))


SWITCHES = re.compile(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)$", re.MULTILINE)


def thread_switches(pid: int) -> int:
    """Context switches, voluntary and not, of the threads process ``pid`` has now
    (/proc/<pid>/status counts its main thread's only)."""
    total = 0
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0  # gone meanwhile
    for thread in threads:
        try:
            status = Path("/proc", str(pid), "task", thread, "status").read_text()
        except OSError:
            continue
        total += sum(int(count) for count in SWITCHES.findall(status))
    return total
