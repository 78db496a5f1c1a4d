// Partitioning of graphics memory and fences among vGPUs (docs/hardware.md, Partitioning): where
// slices land, what happens when a pool runs out, rollback, reuse and scale.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "support.h"

namespace vgd {
namespace {

using test::make_gpu;
using test::make_ram;

constexpr uint32_t kHostFences = 4;

GpuConfig geometry(uint64_t aperture_mib, uint64_t ggtt_mib = 4096, uint32_t fences = 32) {
  GpuConfig cfg;
  cfg.geometry.ggtt_size = ggtt_mib * kMiB;
  cfg.geometry.aperture_size = aperture_mib * kMiB;
  cfg.geometry.fence_count = fences;
  cfg.geometry.host = {128 * kMiB, 384 * kMiB, kHostFences};
  return cfg;
}

VgpuType custom(const char* name, uint64_t low_mib, uint64_t high_mib, uint32_t fences = 4) {
  return {name, {low_mib * kMiB, high_mib * kMiB, fences}, 2, 1024, 768};
}

Expected<Vgpu*, CreateError> create(Gpu& gpu, const std::string& type) {
  return gpu.create_vgpu(type, make_ram(16 * kMiB));
}

// Every partitioning invariant over all live vGPUs of gpu.
void expect_sound_layout(const Gpu& gpu) {
  const GpuGeometry& g = gpu.geometry();
  const GmRange aperture{Gma(0), g.aperture_size}, hidden{Gma(g.aperture_size), g.hidden_size()};
  std::vector<GmRange> taken = {{Gma(0), g.host.low_gm}, {Gma(g.aperture_size), g.host.high_gm}};
  std::set<uint32_t> fences;
  for (Vgpu* v : gpu.vgpus()) {
    SCOPED_TRACE("vgpu " + std::to_string(v->id()));
    const VgpuResources& r = v->resources();
    EXPECT_EQ(r.aperture.size, v->type().resources.low_gm);
    EXPECT_EQ(r.hidden.size, v->type().resources.high_gm);
    for (const GmRange& s : {r.aperture, r.hidden}) {
      EXPECT_TRUE(s.begin.page_aligned()) << std::hex << s.begin.value();
      for (const GmRange& other : taken) EXPECT_FALSE(s.overlaps(other)) << std::hex << s.begin.value();
      taken.push_back(s);
    }
    EXPECT_TRUE(aperture.contains(r.aperture.begin, r.aperture.size));
    EXPECT_TRUE(hidden.contains(r.hidden.begin, r.hidden.size));
    EXPECT_EQ(r.fences.size(), v->type().resources.fences);
    for (uint32_t f : r.fences) {
      EXPECT_GE(f, kHostFences) << "fence " << f << " belongs to the host";
      EXPECT_LT(f, g.fence_count);
      EXPECT_TRUE(fences.insert(f).second) << "fence " << f << " handed out twice";
    }
  }
}

std::vector<uint64_t> counts(const Gpu& gpu) {
  std::vector<uint64_t> out;
  for (const TypeAvailability& a : gpu.availability()) out.push_back(a.available);
  return out;
}

// --- Placement ------------------------------------------------------------------------------

class Placement : public ::testing::TestWithParam<uint64_t> {};

// Mixed types, created until nothing more fits, then some destroyed and the holes refilled.
TEST_P(Placement, SlicesAreDisjointAlignedAndInsideTheirWindows) {
  auto gpu = make_gpu(geometry(GetParam()));
  ASSERT_TRUE(gpu);
  const std::vector<std::string> order = {"GVTg_V5_2", "GVTg_V5_8", "GVTg_V5_4", "GVTg_V5_8"};
  for (bool progress = true; progress;) {
    progress = false;
    for (const std::string& t : order)
      if (create(*gpu, t)) progress = true;
  }
  ASSERT_FALSE(gpu->vgpus().empty());
  expect_sound_layout(*gpu);
  for (Vgpu* v : gpu->vgpus()) {
    if (v->id() % 2) {
      EXPECT_TRUE(gpu->destroy_vgpu(v->id()));
    }
  }
  while (create(*gpu, "GVTg_V5_8")) {
  }
  expect_sound_layout(*gpu);
}

INSTANTIATE_TEST_SUITE_P(Apertures, Placement, ::testing::Values(256, 512, 1024),
                         [](const auto& param_info) { return std::to_string(param_info.param) + "MiB"; });

// --- Exhaustion -----------------------------------------------------------------------------

struct Exhaustion {
  const char* name;
  uint64_t aperture_mib;
  const char* type;
  int fits;  // instances that succeed before the failing one
  Resource short_of;
  uint64_t requested, available, total;  // as reported: MiB for GM, a count for fences
  const char* message;                   // expected in CreateError::message
};

class Exhausted : public ::testing::TestWithParam<Exhaustion> {};

TEST_P(Exhausted, NamesTheShortResourceWithNumbers) {
  const Exhaustion& c = GetParam();
  GpuConfig cfg = geometry(c.aperture_mib);
  cfg.types.push_back(custom("fence8", 16, 32, 8));
  auto gpu = make_gpu(cfg);
  ASSERT_TRUE(gpu);
  for (int i = 0; i < c.fits; ++i) ASSERT_TRUE(create(*gpu, c.type)) << "instance " << i + 1;
  auto v = create(*gpu, c.type);
  ASSERT_FALSE(v);
  const CreateError& e = v.error();
  EXPECT_EQ(e.kind, CreateError::Kind::Resources);
  ASSERT_TRUE(e.resources.has_value());
  const uint64_t unit = c.short_of == Resource::Fence ? 1 : kMiB;
  EXPECT_EQ(e.resources->resource, c.short_of);
  EXPECT_EQ(e.resources->requested, c.requested * unit);
  EXPECT_EQ(e.resources->available, c.available * unit);
  EXPECT_EQ(e.resources->total, c.total * unit);
  EXPECT_FALSE(e.resources->fragmented);
  EXPECT_NE(e.message.find(c.message), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(c.type), std::string::npos) << e.message;
  EXPECT_EQ(gpu->vgpus().size(), static_cast<size_t>(c.fits));
}

INSTANTIATE_TEST_SUITE_P(
    Pools, Exhausted,
    ::testing::Values(
        // Six V5_8 use all 384 MiB the host leaves of a 512 MiB aperture.
        Exhaustion{"aperture", 512, "GVTg_V5_8", 6, Resource::Aperture, 64, 0, 512,
                   "aperture (low GM): requested 64 MiB, available 0 MiB, total 512 MiB"},
        // Two V5_2 on a 1024 MiB aperture; a third still fits the aperture (384 MiB left)
        // but not hidden GM (640 MiB left of 2688).
        Exhaustion{"hidden_partial", 1024, "GVTg_V5_2", 2, Resource::Hidden, 1024, 640, 3072,
                   "requested 1024 MiB, available 640 MiB, total 3072 MiB"},
        // Seven V5_8 use all 2688 MiB of hidden GM (and all fences; hidden is checked first).
        Exhaustion{"hidden", 1024, "GVTg_V5_8", 7, Resource::Hidden, 384, 0, 3072,
                   "hidden (high GM): requested 384 MiB, available 0 MiB, total 3072 MiB"},
        // 28 free fences, 8 per instance: three fit, four are left.
        Exhaustion{"fences", 512, "fence8", 3, Resource::Fence, 8, 4, 32,
                   "fence registers: requested 8, available 4, total 32"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Exhaustion, TooBigForWhatIsLeftButStillOffered) {
  auto gpu = make_gpu(geometry(1024));
  ASSERT_TRUE(gpu);
  ASSERT_TRUE(create(*gpu, "GVTg_V5_2"));
  ASSERT_TRUE(create(*gpu, "GVTg_V5_2"));
  auto v = create(*gpu, "GVTg_V5_1");  // 384 MiB aperture left, needs 512
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().kind, CreateError::Kind::Resources);
  EXPECT_EQ(v.error().resources->resource, Resource::Aperture);
}

// --- Rollback -------------------------------------------------------------------------------

// Hidden GM is made fragmented: 2400 MiB free in total, but in a 1600 MiB and an 800 MiB hole.
// A 2000 MiB request passes accounting, gets its aperture slice, then fails on hidden GM; the
// aperture slice must be given back.
TEST(Rollback, FailedCreateLeavesEverythingAsBefore) {
  GpuConfig cfg = geometry(512);  // hidden pool for vGPUs: [896, 4096) MiB = 3200 MiB
  cfg.types = {custom("big", 16, 1600), custom("mid", 16, 800), custom("huge", 16, 2000),
               custom("whole", 384, 16)};
  auto gpu = make_gpu(cfg);
  ASSERT_TRUE(gpu);
  auto big = create(*gpu, "big");
  ASSERT_TRUE(big);
  ASSERT_TRUE(create(*gpu, "mid"));
  auto low_mid = create(*gpu, "mid");
  ASSERT_TRUE(low_mid);
  ASSERT_EQ(gpu->partitioner().available(Resource::Hidden), 0u);
  ASSERT_TRUE(gpu->destroy_vgpu((*big)->id()));
  ASSERT_TRUE(gpu->destroy_vgpu((*low_mid)->id()));

  const std::vector<uint64_t> before = counts(*gpu);
  const uint64_t low = gpu->partitioner().available(Resource::Aperture);
  const uint64_t high = gpu->partitioner().available(Resource::Hidden);
  const uint64_t fences = gpu->partitioner().available(Resource::Fence);
  ASSERT_EQ(high, 2400 * kMiB);

  auto v = create(*gpu, "huge");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().kind, CreateError::Kind::Resources);
  ASSERT_TRUE(v.error().resources);
  EXPECT_EQ(v.error().resources->resource, Resource::Hidden);
  EXPECT_TRUE(v.error().resources->fragmented);
  EXPECT_EQ(v.error().resources->available, 1600 * kMiB) << "largest hole";
  EXPECT_NE(v.error().message.find("contiguous"), std::string::npos) << v.error().message;

  EXPECT_EQ(counts(*gpu), before);
  EXPECT_EQ(gpu->partitioner().available(Resource::Aperture), low);
  EXPECT_EQ(gpu->partitioner().available(Resource::Hidden), high);
  EXPECT_EQ(gpu->partitioner().available(Resource::Fence), fences);
  EXPECT_EQ(gpu->vgpus().size(), 1u);

  // With everything destroyed the aperture must be one free piece again: a leaked slice from
  // the failed create would split it.
  for (Vgpu* left : gpu->vgpus()) gpu->destroy_vgpu(left->id());
  auto w = create(*gpu, "whole");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ((*w)->resources().aperture, (GmRange{Gma(128 * kMiB), 384 * kMiB}));
}

// --- Destroy and reuse ----------------------------------------------------------------------

TEST(DestroyReuse, FreesSlicesFencesAndTheLowestId) {
  // 28 fences: six V5_8 exhaust aperture and fences together, so a re-create needs both back.
  auto gpu = make_gpu(geometry(512, 4096, 28));
  ASSERT_TRUE(gpu);
  for (uint32_t id = 1; id <= 6; ++id) {
    auto v = create(*gpu, "GVTg_V5_8");
    ASSERT_TRUE(v);
    EXPECT_EQ((*v)->id(), id);
  }
  ASSERT_FALSE(create(*gpu, "GVTg_V5_8"));

  std::set<uint32_t> freed_fences;
  for (uint32_t id : {3u, 5u})
    for (uint32_t f : gpu->vgpu(id)->resources().fences) freed_fences.insert(f);
  ASSERT_TRUE(gpu->destroy_vgpu(5));
  ASSERT_TRUE(gpu->destroy_vgpu(3));
  EXPECT_FALSE(gpu->destroy_vgpu(3)) << "already gone";
  EXPECT_FALSE(gpu->destroy_vgpu(42));
  EXPECT_EQ(gpu->vgpu(3), nullptr);
  EXPECT_EQ(counts(*gpu).front(), 2u);  // two V5_8 fit again

  auto again = create(*gpu, "GVTg_V5_8");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->id(), 3u) << "lowest free id first";
  auto next = create(*gpu, "GVTg_V5_8");
  ASSERT_TRUE(next);
  EXPECT_EQ((*next)->id(), 5u);
  EXPECT_FALSE(create(*gpu, "GVTg_V5_8"));
  expect_sound_layout(*gpu);
  // The only free fences were the destroyed vGPUs' ones.
  std::set<uint32_t> reused((*again)->resources().fences.begin(), (*again)->resources().fences.end());
  reused.insert((*next)->resources().fences.begin(), (*next)->resources().fences.end());
  EXPECT_EQ(reused, freed_fences);
}

// --- Scale ----------------------------------------------------------------------------------

TEST(Scale, SixtyFourVgpusWithEnoughSpace) {
  GpuConfig cfg = geometry(1536, 4096, 512);
  cfg.types.push_back(custom("small", 16, 32, 4));
  auto gpu = make_gpu(cfg);
  ASSERT_TRUE(gpu);
  for (int i = 0; i < 64; ++i) {
    auto v = create(*gpu, "small");
    ASSERT_TRUE(v) << "vGPU " << i + 1 << ": " << v.error().message;
  }
  std::vector<uint32_t> ids;
  for (Vgpu* v : gpu->vgpus()) ids.push_back(v->id());
  std::vector<uint32_t> want(64);
  for (uint32_t i = 0; i < 64; ++i) want[i] = i + 1;
  EXPECT_EQ(ids, want);
  expect_sound_layout(*gpu);
  // Hidden GM is now the limit: 2176 - 64 * 32 = 128 MiB, four more.
  EXPECT_EQ(gpu->availability().back().available, 4u);
}

// --- Type errors ----------------------------------------------------------------------------

TEST(CreateErrors, UnknownAndNotOfferedTypes) {
  auto gpu = make_gpu(geometry(256));
  ASSERT_TRUE(gpu);
  const std::vector<uint64_t> before = counts(*gpu);
  auto unknown = create(*gpu, "GVTg_V5_3");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, CreateError::Kind::UnknownType);
  EXPECT_NE(unknown.error().message.find("GVTg_V5_3"), std::string::npos);
  EXPECT_FALSE(unknown.error().resources);

  auto not_offered = create(*gpu, "GVTg_V5_2");  // 256 MiB > 256 - 128
  ASSERT_FALSE(not_offered);
  EXPECT_EQ(not_offered.error().kind, CreateError::Kind::NotOffered);
  EXPECT_NE(not_offered.error().message.find("GVTg_V5_2"), std::string::npos);
  EXPECT_EQ(counts(*gpu), before);
  EXPECT_TRUE(gpu->vgpus().empty());
}

// --- Geometry validation --------------------------------------------------------------------

struct GeometryCase {
  const char* name;
  void (*mutate)(GpuGeometry&);
  bool valid;
};

class Geometry : public ::testing::TestWithParam<GeometryCase> {};

TEST_P(Geometry, Validate) {
  GpuGeometry g;  // 4096 MiB GGTT, 512 MiB aperture, 32 fences, reference host reservation
  GetParam().mutate(g);
  const std::string err = g.validate();
  EXPECT_EQ(err.empty(), GetParam().valid) << err;
  GpuConfig cfg;
  cfg.geometry = g;
  EXPECT_EQ(static_cast<bool>(Gpu::create(cfg)), GetParam().valid) << "Gpu::create must agree";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Geometry,
    ::testing::Values(
        GeometryCase{"default", [](GpuGeometry&) {}, true},
        GeometryCase{"ggtt_4096", [](GpuGeometry& g) { g.ggtt_size = 4096 * kMiB; }, true},
        GeometryCase{"ggtt_4097", [](GpuGeometry& g) { g.ggtt_size = 4097 * kMiB; }, false},
        GeometryCase{"ggtt_8192", [](GpuGeometry& g) { g.ggtt_size = 8192 * kMiB; }, false},
        GeometryCase{"aperture_eq_ggtt", [](GpuGeometry& g) { g.aperture_size = g.ggtt_size; }, false},
        GeometryCase{"aperture_gt_ggtt", [](GpuGeometry& g) { g.aperture_size = 2 * g.ggtt_size; }, false},
        GeometryCase{"host_low_gt_aperture", [](GpuGeometry& g) { g.host.low_gm = 513 * kMiB; }, false},
        GeometryCase{"host_high_gt_hidden", [](GpuGeometry& g) { g.host.high_gm = 3585 * kMiB; }, false},
        GeometryCase{"host_fences_gt_count", [](GpuGeometry& g) { g.host.fences = 33; }, false}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace vgd
