"""The benchmark's accounting of what the server used: it must count the server's workers
(children of the process it started), or CPU and context switches per request would read
as the idle master's; and a worker's switches are those of all its threads."""
import os
import signal
import subprocess
import sys
import time

from bench.load import Usage, process_tree_usage

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
