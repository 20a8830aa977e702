"""Production settings for `gunicorn wsgi:app` (gunicorn reads this file from the working
directory). The access log leaves out the client address: the platform never stores or
logs raw IPs."""
import gc
import multiprocessing

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


def post_worker_init(worker):
    """Take what the app built at start out of the garbage collector's full collections.

    Each worker loads the app itself: modules, the vendor catalogue, SQLAlchemy's
    metadata, the OpenAPI description, some 130,000 objects that live as long as the
    worker. A full collection scanned them all, holding the GIL and so stalling every
    request of the worker for about 60 ms; frozen, they are never scanned again, and a
    full collection of what requests create takes a few ms (`python -m bench.gc_pauses`,
    README). Tested in tests/test_gunicorn_config.py."""
    gc.collect()
    gc.freeze()
