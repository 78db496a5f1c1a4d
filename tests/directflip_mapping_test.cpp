// The link's CPU views of guest surfaces (docs/direct-flip.md, The engine): a surface refilled
// into shadows is mapped once however often the guest flips back to it, a guest that points the
// same GM range at other pages gets those pages' pixels, and a replaced RAM drops the views.
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "directflip_support.h"
#include "memory/guest_ram.h"

namespace vgd {
namespace {

using namespace test;  // the fixture's names (directflip_support.h)

constexpr uint64_t kGttBase = 0x800000;  // BAR0 offset of GGTT entry 0 (docs/hardware.md, GGTT)

class DirectFlipMappingTest : public test::DirectFlipTest {
 protected:
  // The guest shows s at the next vblank, and the host at its next.
  void show(const guest::Surface& s) {
    ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, s), Error::None);
    g->vgpu().vblank();
    host_vblank();
  }
  uint64_t maps() const { return link->counters().surface_maps; }
};

TEST_F(DirectFlipMappingTest, SurfacesFlippedBackAndForthAreMappedOnce) {
  boot(kW, kH, /*can_import=*/false);
  g->vgpu().vblank();
  host_vblank();
  std::string where;
  EXPECT_EQ(mismatches(0, &where), 0u) << where;
  const guest::Surface* bufs[] = {&front, &back, &third};
  for (uint32_t k = 1; k <= 9; ++k) {
    draw(*bufs[k % 3], k);
    show(*bufs[k % 3]);
    EXPECT_EQ(mismatches(k, &where), 0u) << "frame " << k << ": " << where;
  }
  EXPECT_EQ(link->counters().refills, 10u);
  EXPECT_EQ(maps(), 3u) << "one view per surface, kept across frames";
}

TEST_F(DirectFlipMappingTest, APteRewriteBehindTheSameGmRangeShowsTheNewPages) {
  boot(kW, kH, /*can_import=*/false);
  g->vgpu().vblank();
  host_vblank();
  ASSERT_EQ(maps(), 1u);
  // The guest points front's GM range at back's pages (what a guest driver does when it rebinds
  // an object at the same address), then flips to that same address again.
  draw(back, 5);
  for (uint64_t off = 0; off < front.buffer.size; off += 4096) {
    const uint64_t frame = (back.buffer.gpa.value() + off) / 4096;
    wr(g->vgpu(), kGttBase + (front.buffer.gm.value() + off) / 4096 * 8, frame << 12 | 1, 8);
  }
  show(front);
  std::string where;
  EXPECT_EQ(mismatches(5, &where), 0u) << "the new pages' pixels, not the old view's: " << where;
  EXPECT_EQ(maps(), 2u);
}

TEST_F(DirectFlipMappingTest, ReplacingTheRamDropsTheViews) {
  boot(kW, kH, /*can_import=*/false);
  g->vgpu().vblank();
  host_vblank();
  ASSERT_EQ(maps(), 1u);
  // The same memfd sent again (a new GuestRam of the same layout); the in-process guest keeps
  // writing through the old one, so it is kept alive here.
  const std::shared_ptr<GuestRam> old = g->vgpu().ram_ref();
  const long held = old.use_count();
  std::vector<RamSection> sections;
  sections.push_back(RamSection{Gpa(0), old->size(), MemfdOffset(0), UniqueFd(::dup(old->fd()))});
  auto ram = GuestRam::from_sections(std::move(sections));
  ASSERT_TRUE(ram) << ram.error();
  EXPECT_FALSE(g->vgpu().replace_ram(*ram)) << "same layout";
  g->vgpu().vblank();
  EXPECT_EQ(old.use_count(), held - 2) << "neither the vGPU nor the link's view holds the old RAM";

  draw(front, 3);
  show(front);
  std::string where;
  EXPECT_EQ(mismatches(3, &where), 0u) << where;
  EXPECT_EQ(maps(), 2u) << "mapped again from the new RAM";
}

}  // namespace
}  // namespace vgd
