#include "server/vm_link.h"

#include <spdlog/spdlog.h>

#include "memory/guest_ram.h"

namespace vgd::server {
namespace {

// What a read the device refused returns: all ones, as from a bus that nobody answers.
uint64_t all_ones(uint32_t size) { return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1; }

}  // namespace

VmLink::VmLink(WorkLock& lock, Vgpu& v, UniqueFd socket, std::string name, Detached detached)
    : lock_(lock), vgpu_(&v), name_(std::move(name)), detached_(std::move(detached)) {
  {
    const Locked lk(lock_);
    vgpu_->set_interrupt_sink(this);
  }
  remote::ProxySession::Options o;
  o.name = name_;
  o.bar0_size = v.mmio_bar_size();
  o.on_detach = [this](const remote::Detach& d) { on_detach(d); };
  remote::Endpoint& self = *this;
  session_ = std::make_unique<remote::ProxySession>(std::move(socket), self, intx_, std::move(o));
  session_->start();
}

VmLink::~VmLink() {
  session_.reset();  // stop and join: on_detach has run
  const Locked lk(lock_);
  vgpu_->set_interrupt_sink(nullptr);
}

uint64_t VmLink::bar0_read(MmioOffset offset, uint32_t size) {
  uint64_t value = 0;
  const Locked lk(lock_);
  // A refused access is counted by the vGPU's bus (docs/design.md "A trapped access").
  return vgpu_->read(offset, size, value) == AccessStatus::Ok ? value : all_ones(size);
}

void VmLink::bar0_write(MmioOffset offset, uint32_t size, uint64_t value) {
  const Locked lk(lock_);
  (void)vgpu_->write(offset, size, value);  // a refusal is counted by the vGPU's bus
}

void VmLink::set_guest_ram(std::vector<remote::RamSection> sections) {
  // Checking and mapping the file happen outside the vGPU's lock; only the swap is inside.
  std::vector<RamSection> ram;
  ram.reserve(sections.size());
  for (auto& s : sections) ram.push_back(RamSection{s.gpa, s.size, MemfdOffset(s.fd_offset), std::move(s.fd)});
  auto map = GuestRam::from_sections(std::move(ram));
  if (!map) {
    // Without a readable map the guest's buffers cannot be shown; its traps still work. QEMU
    // resends its map dozens of times per boot: say each reason once.
    if (map.error() != last_ram_error_)
      spdlog::error("{}: guest RAM refused: {}; the vGPU has no RAM until QEMU sends a usable map", name_, map.error());
    last_ram_error_ = map.error();
    map = GuestRam::none();
  }
  const Locked lk(lock_);
  if (vgpu_->ram().same_layout(**map)) return;  // most of QEMU's updates change nothing
  vgpu_->replace_ram(std::move(*map));
}

void VmLink::reset() {
  const Locked lk(lock_);
  vgpu_->reset();
}

void VmLink::on_detach(const remote::Detach& d) {
  spdlog::log(d.reason == remote::DetachReason::Malformed ? spdlog::level::err : spdlog::level::info,
              "{}: VM detached ({}{}{})", name_, remote::reason_name(d.reason), d.detail.empty() ? "" : ": ", d.detail);
  {
    // The display goes off (consumers are told), and nothing of the VM's RAM stays mapped by
    // the vGPU; buffers already handed out keep their own reference.
    const Locked lk(lock_);
    vgpu_->set_interrupt_sink(nullptr);
    vgpu_->reset();
    vgpu_->replace_ram(GuestRam::none());
  }
  attached_.store(false, std::memory_order_release);
  if (detached_) detached_(d);
}

}  // namespace vgd::server
