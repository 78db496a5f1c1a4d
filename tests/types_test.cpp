// vGPU types: what the host offers and how many instances fit (docs/hardware.md, vGPU types), and
// the validation of types defined in configuration.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <optional>
#include <string>

#include "support.h"

namespace vgd {
namespace {

using test::make_gpu;
using test::make_ram;

constexpr std::array<const char*, 4> kStandard = {"GVTg_V5_8", "GVTg_V5_4", "GVTg_V5_2", "GVTg_V5_1"};

// name -> instances still available, or nullopt when the type is not offered at all.
using Offer = std::map<std::string, std::optional<uint64_t>>;

Offer offer(const Gpu& gpu) {
  Offer out;
  for (const TypeAvailability& a : gpu.availability())
    out[a.type->name] = a.offered ? std::optional<uint64_t>(a.available) : std::nullopt;
  return out;
}

GpuConfig with_aperture(uint64_t aperture_mib) {
  GpuConfig cfg;
  cfg.geometry.ggtt_size = 4096 * kMiB;
  cfg.geometry.aperture_size = aperture_mib * kMiB;
  cfg.geometry.fence_count = 32;
  cfg.geometry.host = {128 * kMiB, 384 * kMiB, 4};
  return cfg;
}

// --- type table -----------------------------------------------------------------------------

TEST(StandardTypes, MatchReferenceTable) {
  struct Want {
    uint64_t low_mib, high_mib;
    uint32_t fences, weight, w, h;
  };
  const std::map<std::string, Want> want = {
      {"GVTg_V5_8", {64, 384, 4, 2, 1024, 768}},
      {"GVTg_V5_4", {128, 512, 4, 4, 1920, 1200}},
      {"GVTg_V5_2", {256, 1024, 4, 8, 1920, 1200}},
      {"GVTg_V5_1", {512, 2048, 4, 16, 1920, 1200}},
  };
  const auto types = standard_types();
  ASSERT_EQ(types.size(), want.size());
  for (const VgpuType& t : types) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(want.count(t.name));
    const Want& w = want.at(t.name);
    EXPECT_EQ(t.resources.low_gm, w.low_mib * kMiB);
    EXPECT_EQ(t.resources.high_gm, w.high_mib * kMiB);
    EXPECT_EQ(t.resources.fences, w.fences);
    EXPECT_EQ(t.weight, w.weight);
    EXPECT_EQ(t.max_width, w.w);
    EXPECT_EQ(t.max_height, w.h);
    EXPECT_EQ(t.validate(), "");
  }
}

// --- instances table ------------------------------------------------------------------------

struct InstancesRow {
  uint64_t aperture_mib;
  uint64_t low_avail_mib, high_avail_mib;
  std::array<std::optional<uint64_t>, 4> instances;  // V5_8, V5_4, V5_2, V5_1; nullopt = not offered
};

constexpr auto kNo = std::nullopt;

class Instances : public ::testing::TestWithParam<InstancesRow> {};

TEST_P(Instances, EmptySystemMatchesReference) {
  const InstancesRow& row = GetParam();
  auto gpu = make_gpu(with_aperture(row.aperture_mib));
  ASSERT_TRUE(gpu);
  const Partitioner& p = gpu->partitioner();
  EXPECT_EQ(p.available(Resource::Aperture), row.low_avail_mib * kMiB);
  EXPECT_EQ(p.available(Resource::Hidden), row.high_avail_mib * kMiB);
  EXPECT_EQ(p.available(Resource::Fence), 28u);
  const Offer got = offer(*gpu);
  for (size_t i = 0; i < kStandard.size(); ++i) {
    ASSERT_TRUE(got.count(kStandard[i]));
    EXPECT_EQ(got.at(kStandard[i]), row.instances[i]) << kStandard[i];
  }
}

// The advertised count is honest: exactly that many creations succeed, one more does not.
TEST_P(Instances, AdvertisedCountCanReallyBeCreated) {
  const InstancesRow& row = GetParam();
  for (size_t i = 0; i < kStandard.size(); ++i) {
    if (!row.instances[i]) continue;
    SCOPED_TRACE(kStandard[i]);
    auto gpu = make_gpu(with_aperture(row.aperture_mib));
    ASSERT_TRUE(gpu);
    for (uint64_t n = 0; n < *row.instances[i]; ++n)
      ASSERT_TRUE(gpu->create_vgpu(kStandard[i], make_ram(16 * kMiB))) << "instance " << n + 1;
    auto extra = gpu->create_vgpu(kStandard[i], make_ram(16 * kMiB));
    ASSERT_FALSE(extra);
    EXPECT_EQ(extra.error().kind, CreateError::Kind::Resources);
    EXPECT_EQ(offer(*gpu).at(kStandard[i]), 0u);
  }
}

TEST_P(Instances, NotOfferedTypesCannotBeCreated) {
  const InstancesRow& row = GetParam();
  auto gpu = make_gpu(with_aperture(row.aperture_mib));
  ASSERT_TRUE(gpu);
  for (size_t i = 0; i < kStandard.size(); ++i) {
    if (row.instances[i]) continue;
    auto v = gpu->create_vgpu(kStandard[i], make_ram(16 * kMiB));
    ASSERT_FALSE(v) << kStandard[i];
    EXPECT_EQ(v.error().kind, CreateError::Kind::NotOffered);
    EXPECT_NE(v.error().message.find(kStandard[i]), std::string::npos) << v.error().message;
  }
  EXPECT_TRUE(gpu->vgpus().empty());
}

INSTANTIATE_TEST_SUITE_P(Reference, Instances,
                         ::testing::Values(InstancesRow{256, 128, 3456, {2, 1, kNo, kNo}},
                                           InstancesRow{512, 384, 3200, {6, 3, 1, kNo}},
                                           InstancesRow{1024, 896, 2688, {7, 5, 2, 1}}),
                         [](const auto& param_info) {
                           return std::to_string(param_info.param.aperture_mib) + "MiB";
                         });

// --- Availability follows creation and destruction ------------------------------------------

TEST(Availability, DropsOnCreateAndComesBackOnDestroy) {
  auto gpu = make_gpu(with_aperture(512));
  ASSERT_TRUE(gpu);
  const Offer empty = offer(*gpu);

  // One V5_4 takes 128 MiB low, 512 MiB high, 4 fences: 256 / 2688 / 24 left.
  auto a = gpu->create_vgpu("GVTg_V5_4", make_ram());
  ASSERT_TRUE(a);
  EXPECT_EQ(offer(*gpu), (Offer{{"GVTg_V5_8", 4}, {"GVTg_V5_4", 2}, {"GVTg_V5_2", 1}, {"GVTg_V5_1", kNo}}));

  // A V5_2 takes the remaining 256 MiB of aperture: nothing else fits, but offers stay.
  auto b = gpu->create_vgpu("GVTg_V5_2", make_ram());
  ASSERT_TRUE(b);
  EXPECT_EQ(offer(*gpu), (Offer{{"GVTg_V5_8", 0}, {"GVTg_V5_4", 0}, {"GVTg_V5_2", 0}, {"GVTg_V5_1", kNo}}));

  ASSERT_TRUE(gpu->destroy_vgpu((*a)->id()));
  EXPECT_EQ(offer(*gpu), (Offer{{"GVTg_V5_8", 2}, {"GVTg_V5_4", 1}, {"GVTg_V5_2", 0}, {"GVTg_V5_1", kNo}}));
  ASSERT_TRUE(gpu->destroy_vgpu((*b)->id()));
  EXPECT_EQ(offer(*gpu), empty);
}

TEST(Availability, FencesCanBeTheBindingLimit) {
  GpuConfig cfg = with_aperture(1024);
  cfg.types.push_back({"fence_hog", {16 * kMiB, 16 * kMiB, 10}, 1, 800, 600});
  auto gpu = make_gpu(cfg);
  ASSERT_TRUE(gpu);
  EXPECT_EQ(offer(*gpu).at("fence_hog"), 2u);  // 28 free fences / 10
  ASSERT_TRUE(gpu->create_vgpu("fence_hog", make_ram()));
  // 18 fences left: V5_8 now limited by fences (4), not by GM.
  EXPECT_EQ(offer(*gpu).at("GVTg_V5_8"), 4u);
  EXPECT_EQ(offer(*gpu).at("fence_hog"), 1u);
}

// --- Custom type validation -----------------------------------------------------------------

VgpuType good_custom() { return {"custom", {32 * kMiB, 64 * kMiB, 4}, 4, 1280, 1024}; }

struct BadType {
  const char* what;
  VgpuType type;
};

BadType bad(const char* what, void (*mutate)(VgpuType&)) {
  VgpuType t = good_custom();
  mutate(t);
  return {what, t};
}

class CustomTypeRejected : public ::testing::TestWithParam<BadType> {};

TEST_P(CustomTypeRejected, ByGpuCreateNamingTheType) {
  const BadType& c = GetParam();
  GpuConfig cfg;
  cfg.types.push_back(c.type);
  auto gpu = Gpu::create(cfg);
  ASSERT_FALSE(gpu) << c.what;
  if (!c.type.name.empty())
    EXPECT_NE(gpu.error().find(c.type.name), std::string::npos) << c.what << ": " << gpu.error();
  else
    EXPECT_NE(gpu.error().find("name"), std::string::npos) << gpu.error();
}

INSTANTIATE_TEST_SUITE_P(
    Validation, CustomTypeRejected,
    ::testing::Values(bad("empty name", [](VgpuType& ty) { ty.name.clear(); }),
                      bad("zero low GM", [](VgpuType& ty) { ty.resources.low_gm = 0; }),
                      bad("low GM not whole MiB", [](VgpuType& ty) { ty.resources.low_gm = 32 * kMiB + 4096; }),
                      bad("33 fences", [](VgpuType& ty) { ty.resources.fences = 33; }),
                      bad("weight 0", [](VgpuType& ty) { ty.weight = 0; }),
                      bad("weight 17", [](VgpuType& ty) { ty.weight = 17; }),
                      bad("zero resolution", [](VgpuType& ty) { ty.max_width = 0; }),
                      // PIPESRC holds at most 8192x4096: a larger mode could never be lit.
                      bad("wider than a pipe", [](VgpuType& ty) { ty.max_width = 8193; }),
                      bad("taller than a pipe", [](VgpuType& ty) { ty.max_height = 4097; })),
    [](const auto& param_info) { return "case" + std::to_string(param_info.index); });

TEST(CustomType, BoundaryValuesAreAccepted) {
  GpuConfig cfg;
  VgpuType lo = good_custom(), hi = good_custom();
  lo.name = "weight1";
  lo.weight = 1;
  hi.name = "weight16_32fences";
  hi.weight = 16;
  hi.resources.fences = 32;
  hi.max_width = 8192, hi.max_height = 4096;
  cfg.types.push_back(lo);
  cfg.types.push_back(hi);
  auto gpu = Gpu::create(cfg);
  ASSERT_TRUE(gpu) << gpu.error();
  EXPECT_NE((*gpu)->find_type("weight1"), nullptr);
  // 32 fences is a valid type but never fits next to the host's 4.
  EXPECT_EQ(offer(**gpu).at("weight16_32fences"), 0u);
}

}  // namespace
}  // namespace vgd
