#!/usr/bin/env python3
"""Runs a command on a terminal of its own and types a password at its prompt, once the
command has turned the terminal's echo off (gvnccapture reads the VNC password from its
terminal; typed earlier, the input would be flushed). Exits with the command's status.

usage: type-password.py PASSWORD CMD [ARG...]"""
import fcntl
import os
import select
import subprocess
import sys
import termios

password, cmd = sys.argv[1], sys.argv[2:]
master, slave = os.openpty()


def own_terminal():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal)
said, typed = b"", False
while proc.poll() is None:
    if select.select([master], [], [], 0.05)[0]:
        try:
            said += os.read(master, 4096)
        except OSError:
            break
    if not typed and b"assword" in said and not termios.tcgetattr(slave)[3] & termios.ECHO:
        os.write(master, password.encode() + b"\n")
        typed = True
status = proc.wait()
sys.stdout.write(said.decode(errors="replace"))
sys.exit(status)
