"""The benchmark's accounting of what the server used: it must count the server's workers
(children of the process it started), or CPU and context switches per request would read
as the idle master's; and a worker's switches are those of all its threads. Beside it, the
machine's idle share, which says whether a round was bound by the CPU."""
import os
import signal
import subprocess
import sys
import time

from bench.load import Usage, machine_time, process_tree_usage

# A parent that starts a child burning CPU for a while, then both wait to be killed.
BURNING_CHILD = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c",
    "import time\\nend = time.process_time() + 0.6\\nwhile time.process_time() < end: pass\\n"
    "print('done', flush=True)\\ntime.sleep(60)"], stdout=sys.stdout)
time.sleep(60)
"""


def test_counts_the_cpu_of_the_children_not_only_of_the_root():
    parent = subprocess.Popen([sys.executable, "-c", BURNING_CHILD], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        before = process_tree_usage([parent.pid]).cpu_seconds
        assert parent.stdout.readline().strip() == "done"
        used = process_tree_usage([parent.pid]).cpu_seconds - before
        assert 0.4 <= used < 5  # the child's 0.6 s, give or take the clock tick
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the child too
        parent.communicate()


# A parent whose child, told to go, sleeps 300 times in a thread of its own (each sleep a
# voluntary context switch of that thread); the thread stays, as a gthread worker's do.
SLEEPING_THREAD = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c",
    "import sys, threading, time\\n"
    "def naps():\\n"
    "    sys.stdin.readline()\\n"
    "    for _ in range(300): time.sleep(0.001)\\n"
    "    print('done', flush=True)\\n"
    "    time.sleep(60)\\n"
    "threading.Thread(target=naps).start()\\n"
    "print('ready', flush=True)\\n"], stdin=sys.stdin, stdout=sys.stdout)
time.sleep(60)
"""


def test_counts_the_switches_of_every_thread_of_the_children():
    parent = subprocess.Popen([sys.executable, "-c", SLEEPING_THREAD], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        before = process_tree_usage([parent.pid]).switches
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "done"
        assert process_tree_usage([parent.pid]).switches - before >= 300
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.communicate()


def test_a_root_that_is_gone_counts_nothing():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    time.sleep(0.1)
    assert process_tree_usage([process.pid]) == Usage(0, 0)


BURN = "import time\nend = time.monotonic() + 1.0\nwhile time.monotonic() < end: pass\n"


def test_the_machine_is_counted_busy_while_every_cpu_burns():
    """All of the machine's CPU time is counted (about a second of each CPU's over a
    second), and what burning processes use on every CPU is not counted idle."""
    cpus = os.cpu_count()
    before, started = machine_time(), time.monotonic()
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(cpus)]
    for burner in burners:
        burner.wait()
    spent, elapsed = machine_time() - before, time.monotonic() - started
    ticks_per_cpu = spent.total / cpus / os.sysconf("SC_CLK_TCK")
    assert 0.8 * elapsed <= ticks_per_cpu <= 1.2 * elapsed
    assert spent.idle_share < 0.35
