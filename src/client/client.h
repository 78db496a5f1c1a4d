// libvgd-client: the C++ API for vgpud consumers (viewers, recorders, remote displays). It
// speaks the protocol of docs/protocol.md over the daemon's SOCK_SEQPACKET socket; a consumer
// never needs the daemon's code.
//
//   Connection   connect(path, name) says Hello; list() the vGPUs; open(id) one of them.
//   VgpuSession  one opened vGPU:
//                  tearing()              its tearing control (none, hold, copy), from list()
//                  probe()                PROBE|DMABUF: can buffers be exported?
//                  query(plane type)      the plane as Linux's vfio_device_gfx_plane_info
//                                         (no_plane() when it is off)
//                  buffer(id | query)     the plane's bytes mapped read-only; without tearing
//                                         control from a cache of the 5 most recently used ids
//                                         (as QEMU keeps), with it released on drop (below)
//                  release(id)            "done with this frame" (back-pressure)
//                  enable_events()        an eventfd the daemon signals when planes changed;
//                  wait_events(timeout)   ... waited for and decoded; or event_fd() in your loop
//                  mask/unmask/poll_events, close
//   MappedBuffer data()/size()/fourcc()/modifier()/width()/height()/stride()/dmabuf_fd()
//
// Every call is a synchronous request and reply; errors are values (Result<T> holds T or an
// Error{code, message}). Not thread-safe: use a Connection and its sessions from one thread.
// Every descriptor and mapping is owned (RAII); a buffer stays mapped until its last
// shared_ptr goes, even after the cache evicted it or the session closed.
//
// Buffer references and tearing control (docs/protocol.md §4). On a vGPU with tearing = none
// the session's cache keeps references on the 5 most recent buffers, which costs nobody
// anything. On one with hold or copy a kept reference does: under hold the guest's next
// flip-done waits for it (up to 2 vblanks a frame), under copy a held shadow frame is not
// rewritten (frames are skipped; both held, the picture freezes). There the session keeps no
// references: a buffer's reference goes back the moment the caller drops its last shared_ptr
// to it. So map a frame, read it, and drop it — don't keep buffers across frames — and drop
// them on the connection's thread (dropping one sends a Release). A buffer dropped after its
// session closed sends nothing: Close returned every reference.
//
// Example — show the primary plane whenever it changes:
//
//   auto conn = vgd::client::Connection::connect(vgd::client::default_socket_path(), "viewer");
//   if (!conn) die(describe(conn.error()));
//   auto vgpu = conn->open(conn->list()->at(0).id);
//   vgpu->enable_events();
//   for (;;) {
//     auto ev = vgpu->wait_events(std::chrono::seconds(1));
//     if (!ev) die(describe(ev.error()));
//     if (!ev->any()) continue;
//     auto plane = vgpu->query(vgd::proto::kPlanePrimary);
//     if (!plane || vgd::client::no_plane(*plane)) continue;
//     auto buf = vgpu->buffer(*plane);  // cache hit while the guest flips among its buffers
//     if (buf) show((*buf)->data(), (*buf)->fourcc(), (*buf)->modifier(), (*buf)->stride());
//   }  // buf goes here: under hold or copy its reference is released now
#pragma once

#include "client/connection.h"    // IWYU pragma: export
#include "client/error.h"         // IWYU pragma: export
#include "client/mapped_buffer.h" // IWYU pragma: export
#include "client/session.h"       // IWYU pragma: export
