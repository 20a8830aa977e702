"""Production settings for `gunicorn wsgi:app` (gunicorn reads this file from the working
directory). The access log leaves out the client address: the platform never stores or
logs raw IPs."""
import errno
import gc
import multiprocessing
import socket
import sys

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
# still waiting in a stopping worker's queue (a reload, a crash) are reset, not handed on.
reuse_port = True


def on_starting(server):
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


def post_worker_init(worker):
    freeze_startup_objects()
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
    README). Tested in tests/test_gunicorn_config.py."""
    gc.collect()
    gc.freeze()
