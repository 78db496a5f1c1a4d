// GPU configuration from TOML: a good file gives the geometry and types; every mistake is an
// error that says where (source:line) and which key, so an operator can fix it.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <ostream>
#include <string>

#include "config/gpu_config.h"

namespace vgd {
namespace {

constexpr const char* kSource = "gpu-test.toml";

constexpr const char* kFull = R"(# a complete configuration
[gpu]
ggtt_mib = 2048
aperture_mib = 256
fences = 16
host_low_gm_mib = 64
host_high_gm_mib = 128
host_fences = 2
standard_types = true

[[type]]
name = "tiny"
low_gm_mib = 16
high_gm_mib = 32
fences = 2
weight = 1
max_resolution = "800x600"
)";

std::string without_standard(std::string text) {
  const std::string on = "standard_types = true";
  text.replace(text.find(on), on.size(), "standard_types = false");
  return text;
}

const VgpuType* find(const GpuConfig& cfg, const std::string& name) {
  for (const VgpuType& t : cfg.types)
    if (t.name == name) return &t;
  return nullptr;
}

TEST(GpuConfig, FullFileGivesGeometryAndTypes) {
  auto cfg = parse_gpu_config(kFull, kSource);
  ASSERT_TRUE(cfg) << cfg.error();
  const GpuGeometry& g = cfg->geometry;
  EXPECT_EQ(g.ggtt_size, 2048 * kMiB);
  EXPECT_EQ(g.aperture_size, 256 * kMiB);
  EXPECT_EQ(g.fence_count, 16u);
  EXPECT_EQ(g.host.low_gm, 64 * kMiB);
  EXPECT_EQ(g.host.high_gm, 128 * kMiB);
  EXPECT_EQ(g.host.fences, 2u);

  EXPECT_EQ(cfg->types.size(), 5u);
  EXPECT_NE(find(*cfg, "GVTg_V5_8"), nullptr);
  const VgpuType* tiny = find(*cfg, "tiny");
  ASSERT_NE(tiny, nullptr);
  EXPECT_EQ(tiny->resources.low_gm, 16 * kMiB);
  EXPECT_EQ(tiny->resources.high_gm, 32 * kMiB);
  EXPECT_EQ(tiny->resources.fences, 2u);
  EXPECT_EQ(tiny->weight, 1u);
  EXPECT_EQ(tiny->max_width, 800u);
  EXPECT_EQ(tiny->max_height, 600u);

  // The geometry is what the GPU partitions: 192 MiB / 1664 MiB / 14 fences are free, so
  // fences bind at 14 / 2 = 7 instances.
  auto gpu = Gpu::create(*cfg);
  ASSERT_TRUE(gpu) << gpu.error();
  const auto avail = (*gpu)->availability();
  ASSERT_EQ(avail.back().type->name, "tiny");
  EXPECT_EQ(avail.back().available, 7u);
}

TEST(GpuConfig, StandardTypesCanBeTurnedOff) {
  auto cfg = parse_gpu_config(without_standard(kFull), kSource);
  ASSERT_TRUE(cfg) << cfg.error();
  ASSERT_EQ(cfg->types.size(), 1u);
  EXPECT_EQ(cfg->types[0].name, "tiny");
}

TEST(GpuConfig, EmptyFileMeansDefaults) {
  auto cfg = parse_gpu_config("", kSource);
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->geometry.ggtt_size, 4096 * kMiB);
  EXPECT_EQ(cfg->geometry.host.low_gm, 128 * kMiB);  // host reservation (hardware.md)
  EXPECT_EQ(cfg->geometry.host.high_gm, 384 * kMiB);
  EXPECT_EQ(cfg->geometry.host.fences, 4u);
  EXPECT_EQ(cfg->types.size(), 4u);
}

std::string describe(const GpuConfig& cfg) {
  const GpuGeometry& g = cfg.geometry;
  std::string out = "ggtt " + std::to_string(g.ggtt_size / kMiB) + " MiB, aperture " +
                    std::to_string(g.aperture_size / kMiB) + " MiB, standard types " +
                    (find(cfg, "GVTg_V5_8") ? "on" : "off");
  for (const VgpuType& t : cfg.types)
    out += "; " + t.name + " low " + std::to_string(t.resources.low_gm / kMiB) + " MiB " +
           std::to_string(t.max_width) + "x" + std::to_string(t.max_height);
  return out;
}

// --- Errors point at the line and the key ---------------------------------------------------

struct BadConfig {
  const char* name;
  std::string text;
  int line;
  const char* key;  // must appear in the message; a syntax error has no key to name
};
void PrintTo(const BadConfig& c, std::ostream* os) { *os << c.name; }

// The offending line is line 2 of a [gpu] table / line 4 of a [[type]] table.
std::string in_gpu(const char* line) { return std::string("[gpu]\n") + line + "\n"; }
std::string in_type(const char* line) {
  return std::string("[[type]]\nname = \"t\"\nlow_gm_mib = 16\n") + line + "\n";
}

class ConfigError : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigError, NamesSourceLineAndKey) {
  const BadConfig& c = GetParam();
  auto cfg = parse_gpu_config(c.text, kSource);
  ASSERT_FALSE(cfg) << "accepted:\n" << c.text << "as " << describe(*cfg);
  const std::string& err = cfg.error();
  EXPECT_NE(err.find(std::string(kSource) + ":" + std::to_string(c.line) + ":"), std::string::npos)
      << "want line " << c.line << ", got: " << err;
  if (c.key) {
    EXPECT_NE(err.find(c.key), std::string::npos) << "want key " << c.key << ", got: " << err;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigError,
    ::testing::Values(
        BadConfig{"unknown_gpu_key", in_gpu("apperture_mib = 1024"), 2, "gpu.apperture_mib"},
        BadConfig{"unknown_top_key", "\nverbose = true\n", 2, "verbose"},
        BadConfig{"unknown_type_key", in_type("colour = \"red\""), 4, "type.colour"},
        BadConfig{"string_for_integer", in_gpu("aperture_mib = \"512\""), 2, "gpu.aperture_mib"},
        BadConfig{"fraction_for_integer", in_gpu("fences = 16.5"), 2, "gpu.fences"},
        BadConfig{"integer_for_bool", in_gpu("standard_types = 1"), 2, "gpu.standard_types"},
        BadConfig{"integer_for_name", "[[type]]\nname = 5\n", 2, "type.name"},
        BadConfig{"negative_fences", in_gpu("fences = -1"), 2, "gpu.fences"},
        BadConfig{"negative_weight", in_type("weight = -4"), 4, "type.weight"},
        BadConfig{"fences_over_32_bits", in_gpu("fences = 4294967296"), 2, "gpu.fences"},
        // (2^44 + 512) MiB is 512 MiB modulo 2^64 bytes: it must not silently become 512 MiB.
        BadConfig{"aperture_overflows_bytes", in_gpu("aperture_mib = 17592186044928"), 2, "gpu.aperture_mib"},
        BadConfig{"high_gm_overflows_bytes", in_type("high_gm_mib = 17592186044432"), 4, "type.high_gm_mib"},
        BadConfig{"resolution_no_x", in_type("max_resolution = \"800by600\""), 4, "max_resolution"},
        BadConfig{"resolution_no_height", in_type("max_resolution = \"800x\""), 4, "max_resolution"},
        BadConfig{"resolution_zero", in_type("max_resolution = \"0x600\""), 4, "max_resolution"},
        BadConfig{"resolution_negative", in_type("max_resolution = \"-800x600\""), 4, "max_resolution"},
        BadConfig{"resolution_trailing", in_type("max_resolution = \"1920x1080@60\""), 4, "max_resolution"},
        BadConfig{"gpu_not_a_table", "gpu = 5\n", 1, "gpu"},
        BadConfig{"type_not_an_array", "\ntype = \"big\"\n", 2, "type"},
        BadConfig{"invalid_type", "[[type]]\nname = \"greedy\"\nlow_gm_mib = 16\nfences = 33\n", 1, "greedy"},
        BadConfig{"syntax_error", "[gpu]\naperture_mib = 512\nfences = = 3\n", 3, nullptr},
        BadConfig{"syntax_unclosed_table", "\n\n[gpu\naperture_mib = 512\n", 3, nullptr}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(GpuConfig, InconsistentGeometryIsRefused) {
  auto cfg = parse_gpu_config("[gpu]\nggtt_mib = 1024\naperture_mib = 1024\n", kSource);
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().find(kSource), std::string::npos) << cfg.error();
  EXPECT_NE(cfg.error().find("aperture"), std::string::npos) << cfg.error();
}

// A second type of the same name is refused while parsing, naming the line of its name.
void expect_duplicate_refused(const char* text, const std::string& name, int line) {
  auto cfg = parse_gpu_config(text, kSource);
  ASSERT_FALSE(cfg) << name << " accepted twice";
  EXPECT_NE(cfg.error().find(std::string(kSource) + ":" + std::to_string(line) + ":"), std::string::npos)
      << cfg.error();
  EXPECT_NE(cfg.error().find(name), std::string::npos) << cfg.error();
}

// Gpu::create guards the same rule for configurations built in code.
TEST(GpuConfig, DuplicateTypeInCodeIsRefused) {
  GpuConfig cfg;
  cfg.types.push_back(cfg.types.front());
  auto gpu = Gpu::create(cfg);
  ASSERT_FALSE(gpu);
  EXPECT_NE(gpu.error().find("GVTg_V5_8"), std::string::npos) << gpu.error();
}

TEST(GpuConfig, DuplicateTypeNameIsRefused) {
  expect_duplicate_refused("[[type]]\nname = \"twin\"\nlow_gm_mib = 16\n[[type]]\nname = \"twin\"\nlow_gm_mib = 32\n",
                           "twin", 5);
}

TEST(GpuConfig, ClashWithStandardTypeIsRefused) {
  expect_duplicate_refused("[[type]]\nname = \"GVTg_V5_8\"\nlow_gm_mib = 16\n", "GVTg_V5_8", 2);
}

// --- Files ----------------------------------------------------------------------------------

TEST(LoadGpuConfig, ReadsAFileAndUsesItsPathInErrors) {
  const std::string path = ::testing::TempDir() + "vgd_config_test.toml";
  {
    std::ofstream out(path);
    out << kFull << "bogus = 1\n";
  }
  auto cfg = load_gpu_config(path);
  std::remove(path.c_str());
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().find(path + ":18:"), std::string::npos) << cfg.error();
  EXPECT_NE(cfg.error().find("bogus"), std::string::npos) << cfg.error();
}

TEST(LoadGpuConfig, GoodFileLoads) {
  const std::string path = ::testing::TempDir() + "vgd_config_good.toml";
  {
    std::ofstream out(path);
    out << kFull;
  }
  auto cfg = load_gpu_config(path);
  std::remove(path.c_str());
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->geometry.aperture_size, 256 * kMiB);
}

TEST(LoadGpuConfig, MissingFileIsAClearError) {
  const std::string path = ::testing::TempDir() + "no-such-dir/gpu.toml";
  auto cfg = load_gpu_config(path);
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().find(path), std::string::npos) << cfg.error();
  EXPECT_NE(cfg.error().find("cannot read"), std::string::npos) << cfg.error();
}

}  // namespace
}  // namespace vgd
