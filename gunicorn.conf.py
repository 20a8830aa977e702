"""Production settings for `gunicorn wsgi:app` (gunicorn reads this file from the working
directory). The access log leaves out the client address: the platform never stores or
logs raw IPs."""
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
