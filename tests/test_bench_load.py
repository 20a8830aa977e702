"""The benchmark's CPU accounting: it must count the server's workers (children of the
process it started), or CPU per request would read as the idle master's."""
import os
import signal
import subprocess
import sys
import time

from bench.load import process_tree_cpu

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
        before = process_tree_cpu([parent.pid])
        assert parent.stdout.readline().strip() == "done"
        used = process_tree_cpu([parent.pid]) - before
        assert 0.4 <= used < 5  # the child's 0.6 s, give or take the clock tick
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the child too
        parent.communicate()


def test_a_root_that_is_gone_counts_nothing():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    time.sleep(0.1)
    assert process_tree_cpu([process.pid]) == 0
