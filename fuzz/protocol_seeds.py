#!/usr/bin/env python3
"""Writes the seed corpora of server_fuzz and client_fuzz: valid conversations in the packet
stream encoding of fuzz/packet_stream.h (docs/protocol.md §10). Run from anywhere:
    fuzz/protocol_seeds.py
"""
import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

# FdKind (fuzz/packet_stream.h)
EVENTFD, MEMFD, SEALED_MEMFD, EMPTY_MEMFD, PIPE, DEVNULL, SOCKET = range(7)
SHAPED, MORE, OVERSIZE = 1 << 3, 1 << 4, 1 << 5

# Message types (src/proto/wire.h)
(HELLO, LIST, OPEN, CLOSE, QUERY, GET_BUFFER, RELEASE, SET_EVENTFD, MASK, UNMASK, POLL_EVENTS,
 ATTACH_VM, GET_DAMAGE, LIST_OUTPUTS, ASSIGN_OUTPUT, UNASSIGN_OUTPUT) = range(1, 17)
ERROR = 0xFFFF
XRGB8888 = 0x34325258
PROBE, DMABUF = 1, 2
OVERLAY, PRIMARY, CURSOR = 0, 1, 2


def packet(body=b"", type=0, vgpu=0, fds=(), more=False, raw=None, oversize=False):
    """One packet: shaped (the harness writes the header) unless raw bytes are given."""
    control = len(fds) | (0 if raw is not None else SHAPED) | (MORE if more else 0) | (OVERSIZE if oversize else 0)
    out = bytes([control]) + bytes(fds)
    if raw is None:
        out += struct.pack("<HB", type, vgpu)
    data = body if raw is None else raw
    return out + struct.pack("<H", len(data)) + data


def plane_info(flags=DMABUF, plane=PRIMARY, fourcc=0, width=0, height=0, stride=0, size=0, dmabuf_id=0):
    return struct.pack("<IIIIQIIIIiiIIII", 64, flags, plane, fourcc, 0, width, height, stride, size, 0, 0,
                       0xFFFFFFFF, 0xFFFFFFFF, dmabuf_id, 0)


def header(type, seq, vgpu, magic=0x50444756, version=1):
    return struct.pack("<IHHII", magic, version, type, seq, vgpu)


# --- server_fuzz: what a client sends --------------------------------------------------------

def hello(name=b"seed", more=False):
    return packet(struct.pack("<II32s", 1, 0, name), HELLO, more=more)


def req(type, vgpu=0, body=b"", **kw):
    return packet(body, type, vgpu, **kw)


def u32s(*v):
    return struct.pack(f"<{len(v)}I", *v)


SERVER = {
    "hello_list": hello() + req(LIST),
    "viewer_none": hello() + req(OPEN, 1) + req(QUERY, 1, plane_info(PROBE | DMABUF)) + req(QUERY, 1, plane_info())
    + req(GET_BUFFER, 1, u32s(1, 0)) + req(GET_BUFFER, 1, u32s(2, 0)) + req(QUERY, 1, plane_info(plane=CURSOR))
    + req(GET_BUFFER, 1, u32s(3, 0)) + req(RELEASE, 1, u32s(1, 0)) + req(CLOSE, 1),
    "events_hold": hello() + req(OPEN, 2) + req(SET_EVENTFD, 2, fds=[EVENTFD]) + req(MASK, 2) + req(UNMASK, 2)
    + req(POLL_EVENTS, 2) + req(GET_DAMAGE, 2, u32s(PRIMARY, 0)) + req(QUERY, 2, plane_info())
    + req(GET_BUFFER, 2, u32s(1, 0)) + req(SET_EVENTFD, 2) + req(CLOSE, 2),
    "copy_shadows": hello() + req(OPEN, 3) + req(QUERY, 3, plane_info()) + req(GET_BUFFER, 3, u32s(0x40000000, 0))
    + req(GET_BUFFER, 3, u32s(0x40000001, 0)) + req(RELEASE, 3, u32s(0x40000000, 0))
    + req(QUERY, 3, plane_info(plane=OVERLAY)) + req(GET_DAMAGE, 3, u32s(OVERLAY, 0)),
    "outputs": hello() + req(LIST_OUTPUTS) + req(ASSIGN_OUTPUT, 1, u32s(0, 0) + b"Virtual-1".ljust(32, b"\0"))
    + req(LIST_OUTPUTS) + req(UNASSIGN_OUTPUT, 1, u32s(0, 0)) + req(ASSIGN_OUTPUT, 2, u32s(0, 0) + b"Virtual-1".ljust(32, b"\0")),
    "attach_vm": hello() + req(ATTACH_VM, 4) + req(ATTACH_VM, 1) + req(OPEN, 4) + req(QUERY, 4, plane_info()),
    "pipelined": hello(more=True) + req(LIST, more=True) + req(OPEN, 1, more=True) + req(QUERY, 1, plane_info(plane=CURSOR), more=True)
    + req(GET_BUFFER, 1, u32s(2, 0)),
    "malformed": hello() + packet(raw=header(LIST, 7, 1, magic=0x12345678)),
    "short_packet": hello() + packet(raw=b"VGDP\x01\x00"),
    "unknown_type": hello() + req(OPEN, 1) + req(99, 1),
    "too_many_fds": hello() + req(SET_EVENTFD, 1, fds=[EVENTFD, MEMFD, PIPE, DEVNULL, SOCKET]),
    "wrong_fds": hello() + req(OPEN, 1) + req(SET_EVENTFD, 1, fds=[SEALED_MEMFD]) + req(SET_EVENTFD, 1, fds=[EVENTFD, EVENTFD])
    + req(LIST, fds=[PIPE]),
    "oversize": hello() + req(LIST, oversize=True),
    "no_hello": req(LIST) + hello(),
}

# --- client_fuzz: a script of calls, then what the daemon answers -----------------------------

# Calls (fuzz/client_fuzz.cpp): the low 5 bits pick one, the high 3 are its argument.
(C_LIST, C_OPEN, C_OUTPUTS, C_ASSIGN, C_UNASSIGN, C_ATTACH, C_DROP_HELD, C_PROBE, C_QUERY, C_BUFFER, C_BUFFER_ID,
 C_RELEASE, C_ENABLE, C_WAIT, C_DISABLE, C_MASK, C_POLL, C_DAMAGE, C_CLOSE, C_ERASE) = range(20)


def call(op, arg=0):
    return op | arg << 5


def script(*ops):
    return bytes([len(ops), *ops])


def reply(body=b"", fds=(), **kw):
    return packet(body, 0, 0, fds, **kw)


def error(code, message=b"refused"):
    return packet(struct.pack("<iI248s", code, len(message), message), ERROR)


HELLO_REPLY = reply(u32s(1, 65536, 2, 3))


def list_reply(tearing=0):
    entries = b"".join(struct.pack("<6I32s16s", i, 0, 1024, 768, 60000, tearing, b"GVTg_V5_8", b"desktop") for i in (1, 2))
    return reply(u32s(2, 0) + entries)


PRIMARY_REPLY = reply(plane_info(fourcc=XRGB8888, width=32, height=32, stride=128, size=4096, dmabuf_id=3))


def buffer_reply(extents=((4096, 4096),), fds=(SEALED_MEMFD,), flags=0, id=3):
    body = struct.pack("<IIQIIIIQII", id, XRGB8888, 0, 32, 32, 128, len(extents), 4096, flags, 0)
    return reply(body + b"".join(struct.pack("<QQ", o, n) for o, n in extents), fds)


CLIENT = {
    "viewer_none": script(call(C_OPEN), call(C_QUERY, PRIMARY), call(C_BUFFER, 4), call(C_ENABLE), call(C_WAIT),
                          call(C_POLL), call(C_DAMAGE, PRIMARY), call(C_DROP_HELD), call(C_CLOSE))
    + HELLO_REPLY + list_reply() + reply() + PRIMARY_REPLY + buffer_reply() + reply()
    + reply(struct.pack("<QQ", 0x10001, 123456789)) + reply(u32s(1, 1) + u32s(0, 0, 16, 16)) + reply(),
    "hold_release": script(call(C_OPEN), call(C_QUERY, PRIMARY), call(C_BUFFER), call(C_QUERY, PRIMARY),
                           call(C_BUFFER, 4), call(C_DROP_HELD), call(C_ERASE))
    + HELLO_REPLY + list_reply(tearing=1) + reply() + PRIMARY_REPLY + buffer_reply() + reply()
    + PRIMARY_REPLY + buffer_reply() + reply() + reply(),
    "dmabuf_extents": script(call(C_OPEN), call(C_BUFFER_ID, 2), call(C_BUFFER_ID, 4), call(C_RELEASE))
    + HELLO_REPLY + list_reply() + reply()
    + buffer_reply(extents=((0, 4096), (8192, 4096)), fds=(SEALED_MEMFD, MEMFD), flags=1, id=3)
    + buffer_reply(extents=((61440, 8192),), id=5) + reply() + reply(),
    "outputs": script(call(C_OUTPUTS), call(C_ASSIGN), call(C_UNASSIGN), call(C_ATTACH))
    + HELLO_REPLY + reply(u32s(1, 0) + b"virtual".ljust(32, b"\0") + b"Virtual-1".ljust(32, b"\0") + u32s(1, 1024, 768, 60000, 1, 0, 0, 0))
    + reply(b"Virtual-1".ljust(32, b"\0") + u32s(1, 1024, 768, 60000, 1, 0, 0, 0)) + reply() + reply(fds=[SOCKET]),
    "errors": script(call(C_OPEN, 2), call(C_OPEN), call(C_QUERY, CURSOR), call(C_BUFFER), call(C_PROBE), call(C_MASK, 1),
                     call(C_MASK), call(C_DISABLE))
    + HELLO_REPLY + list_reply() + error(-2, b"no vGPU 3") + list_reply() + reply() + error(-22, b"guest plane invalid")
    + reply(plane_info(PROBE | DMABUF)) + reply() + reply() + error(-71, b"malformed"),
    "unsolicited": script(call(C_OPEN), call(C_ENABLE), call(C_WAIT), call(C_POLL))
    + HELLO_REPLY + list_reply() + reply() + reply(more=True) + reply(u32s(1, 2)),
}


def main():
    for target, seeds in (("server_fuzz", SERVER), ("client_fuzz", CLIENT)):
        d = CORPUS / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (d / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds in {d}")


if __name__ == "__main__":
    main()
