// libvgd-client: the C++ API for vgpud consumers (viewers, recorders, remote displays). It
// speaks the protocol of docs/protocol.md over the daemon's SOCK_SEQPACKET socket; a consumer
// never needs the daemon's code.
//
//   Connection   connect(path, name) says Hello; list() the vGPUs; open(id) one of them.
//   VgpuSession  one opened vGPU:
//                  probe()                PROBE|DMABUF: can buffers be exported?
//                  query(plane type)      the plane as Linux's vfio_device_gfx_plane_info
//                                         (no_plane() when it is off)
//                  buffer(id | query)     the plane's bytes mapped read-only, from a cache of
//                                         the 5 most recently used ids (as QEMU keeps)
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
//   }
#pragma once

#include "client/connection.h"    // IWYU pragma: export
#include "client/error.h"         // IWYU pragma: export
#include "client/mapped_buffer.h" // IWYU pragma: export
#include "client/session.h"       // IWYU pragma: export
