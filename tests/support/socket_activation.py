"""Run a command the way systemd's socket activation starts a service: a listening TCP
socket on 127.0.0.1:PORT as descriptor 3, LISTEN_FDS=1 and LISTEN_PID set to the
command's process (the same process: this one execs it).

python tests/support/socket_activation.py PORT COMMAND [ARGS...]   (tests/server/test_gunicorn_config.py)
"""
import os
import socket
import sys

SD_LISTEN_FDS_START = 3


def main(port: int, command: list[str]) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    if listener.fileno() != SD_LISTEN_FDS_START:
        os.dup2(listener.fileno(), SD_LISTEN_FDS_START)
    os.set_inheritable(SD_LISTEN_FDS_START, True)
    os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
    os.execv(command[0], command)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
