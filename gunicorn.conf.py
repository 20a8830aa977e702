"""Production settings for `gunicorn wsgi:app` (gunicorn reads this file from the working
directory). The access log leaves out the client address: the platform never stores or
logs raw IPs."""
import errno
import gc
import multiprocessing
import os
import socket
import sys

from gunicorn import systemd

bind = "127.0.0.1:5000"
# Threads let concurrent consent POSTs of a process share one durable commit
# (consent_logs.group_commit); processes use every core despite the GIL.
workers = multiprocessing.cpu_count() + 1
worker_class = "gthread"
threads = 8
timeout = 30
graceful_timeout = 20
accesslog = "-"
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = "127.0.0.1"  # only for wsgi.url_scheme; client IPs are our own setting
# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
# connections over them. On one shared socket the workers race to accept, and the one
# already running wins: 44 to 47 of 48 keep-alive connections opened in turn went to one
# worker, so behind a proxy that keeps a pool of connections (nginx's upstream keepalive)
# one process, and so one core, would serve nearly everything. The price: connections
# still waiting in a stopping worker's queue (a reload, an upgrade, a crash) are reset,
# unless net.ipv4.tcp_migrate_req hands them on (warn_unless_queued_connections_migrate).
reuse_port = True
# gunicorn's control socket (`gunicornc -s instance/gunicorn.ctl`) in the instance folder,
# one per instance: its default, one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn), is
# taken over by whichever server of that user started last, and removed when any stops.
# (The instance folder as cmp_server.platform.settings.instance_path and Flask find it; importing
# cmp_server here would load the whole app into the master.)
control_socket = os.path.join(
    os.environ.get("CMP_INSTANCE_PATH") or os.path.join(os.path.dirname(__file__), "instance"),
    "gunicorn.ctl")


def on_starting(server):
    """How this master gets its sockets decides what to check before it starts."""
    if systemd.listen_fds(unset_environment=False):
        use_socket_activation(server)
    elif server.master_pid:
        succeed_upgraded_master(server)
    else:
        refuse_a_port_in_use(server)
    if server.cfg.reuse_port:
        warn_unless_queued_connections_migrate(server)


def use_socket_activation(server):
    """Started by systemd with its sockets: serve on those. With ``reuse_port`` gunicorn
    would ignore them and bind sockets of the workers' own, which fails on the port
    systemd holds (or, with ReusePort= in the socket unit, leaves systemd's socket queueing
    connections nobody accepts). The workers share systemd's sockets instead."""
    server.cfg.set("reuse_port", False)
    server.log.info("Serving on the sockets systemd passed: the workers share them "
                    "(reuse_port is off)")


def succeed_upgraded_master(server):
    """A new master started by ``USR2`` (an upgrade in place): the old master's workers
    hold the port, and this master's workers join them on sockets of their own until the
    old master is stopped. gunicorn 27 still parses the descriptors the old master passes
    on, though with ``reuse_port`` it never uses them, and fails on the empty list the old
    master (which has no sockets) passes: give it a descriptor it will ignore."""
    if server.cfg.reuse_port and os.environ.get("GUNICORN_FD") == "":
        os.environ["GUNICORN_FD"] = "0"
    server.log.info("Upgrading in place from master %s", server.master_pid)


def refuse_a_port_in_use(server):
    """Refuse a port another server holds: with SO_REUSEPORT the kernel would otherwise let
    a second instance (another `make run`, another instance folder) bind it as well and
    silently take part of the traffic. A plain bind fails wherever anything listens."""
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a Unix socket or an inherited descriptor: nothing to share
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                server.log.error("%s:%s is in use by another server: stop it, or choose "
                                 "another address (--bind, or PORT with make run)", host, port)
                sys.exit(1)


def warn_unless_queued_connections_migrate(server):
    """Each worker's socket has a queue of connections the kernel accepted for it. When a
    worker stops (a reload, an upgrade, a crash), Linux resets what is still queued at it
    unless net.ipv4.tcp_migrate_req is on (Linux 5.14 and later), which hands those
    connections to another worker's socket instead (tests/server/test_gunicorn_config.py)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_migrate_req", encoding="ascii") as setting:
            if setting.read().strip() != "0":
                return
    except OSError:
        return  # not Linux, or before 5.14: there is no such setting to turn on
    server.log.warning("net.ipv4.tcp_migrate_req is 0: connections waiting at a worker "
                       "that stops (a reload, an upgrade, a crash) are reset instead of "
                       "handed to another worker; `sysctl -w net.ipv4.tcp_migrate_req=1` "
                       "hands them over (README, Configuration)")


def post_worker_init(worker):
    freeze_startup_objects()
    if worker.cfg.reuse_port:
        # gunicorn logs "Listening at" only for sockets of its master, and each worker has its own
        worker.log.info("Listening at: %s (worker %s, on a socket of its own)",
                        ",".join(str(listener) for listener in worker.sockets), worker.pid)


def freeze_startup_objects():
    """Take what the app built at start out of the garbage collector's full collections.

    Each worker loads the app itself: modules, the vendor catalogue, SQLAlchemy's
    metadata, the OpenAPI description, some 130,000 objects that live as long as the
    worker. A full collection scanned them all, holding the GIL and so stalling every
    request of the worker for about 60 ms; frozen, they are never scanned again, and a
    full collection of what requests create takes a few ms (`python -m bench.gc_pauses`,
    README). Tested in tests/server/test_gunicorn_config.py."""
    gc.collect()
    gc.freeze()
