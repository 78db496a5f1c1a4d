// The vgpuctl binary as a user runs it: JSON output, the availability table, the demo,
// and clear errors on impossible requests.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using nlohmann::json;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "vgpuctl_test_" + std::to_string(::getpid()) + "_" + name;
}

// Runs vgpuctl with args; stdout through the pipe, stderr through a file.
Result vgpuctl(const std::string& args) {
  Result r;
  const std::string err_file = temp_path("stderr");
  const std::string cmd = std::string(VGPUCTL_PATH) + " " + args + " 2>" + err_file;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return r;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::remove(err_file.c_str());
  return r;
}

json parse(const Result& r) {
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out;
  return j;
}

const json* find_type(const json& types, const std::string& name) {
  for (const json& t : types)
    if (t.value("name", "") == name) return &t;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// types: type sizes and instance counts (hardware.md).

struct TypeRow {
  const char* name;
  int low_mib, high_mib, fences, available;
};
struct TypesCase {
  const char* args;
  std::vector<TypeRow> offered;
  std::vector<const char*> not_offered;
};

const TypesCase kTypesCases[] = {
    {"types --json --aperture-mib 512",
     {{"GVTg_V5_8", 64, 384, 4, 6}, {"GVTg_V5_4", 128, 512, 4, 3}, {"GVTg_V5_2", 256, 1024, 4, 1}},
     {"GVTg_V5_1"}},
    {"types --aperture-mib 256 --json", {{"GVTg_V5_8", 64, 384, 4, 2}, {"GVTg_V5_4", 128, 512, 4, 1}},
     {"GVTg_V5_2", "GVTg_V5_1"}},
    {"types --json --aperture-mib 1024",
     {{"GVTg_V5_8", 64, 384, 4, 7},
      {"GVTg_V5_4", 128, 512, 4, 5},
      {"GVTg_V5_2", 256, 1024, 4, 2},
      {"GVTg_V5_1", 512, 2048, 4, 1}},
     {}},
};

void PrintTo(const TypesCase& c, std::ostream* os) { *os << c.args; }

class VgpuctlTypes : public ::testing::TestWithParam<TypesCase> {};

TEST_P(VgpuctlTypes, JsonMatchesTheReferenceTable) {
  const Result r = vgpuctl(GetParam().args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = parse(r);
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j.size(), GetParam().offered.size());
  for (const TypeRow& want : GetParam().offered) {
    SCOPED_TRACE(want.name);
    const json* t = find_type(j, want.name);
    ASSERT_NE(t, nullptr) << "type missing";
    for (const char* key : {"name", "low_gm_mib", "high_gm_mib", "fences", "available"})
      EXPECT_TRUE(t->contains(key)) << "no key " << key;
    EXPECT_EQ(t->value("low_gm_mib", -1), want.low_mib);
    EXPECT_EQ(t->value("high_gm_mib", -1), want.high_mib);
    EXPECT_EQ(t->value("fences", -1), want.fences);
    EXPECT_EQ(t->value("available", -1), want.available);
  }
  for (const char* name : GetParam().not_offered) EXPECT_EQ(find_type(j, name), nullptr) << name << " offered";
}

INSTANTIATE_TEST_SUITE_P(Apertures, VgpuctlTypes, ::testing::ValuesIn(kTypesCases));

// ---------------------------------------------------------------------------------------------
// demo.

bool disjoint(const json& a, const json& b) {
  return a.at("end").get<uint64_t>() <= b.at("begin").get<uint64_t>() ||
         b.at("end").get<uint64_t>() <= a.at("begin").get<uint64_t>();
}

TEST(Vgpuctl, DemoWithThreeVgpusGivesDisjointSlicesAndReadyGuests) {
  const Result r = vgpuctl("demo --vgpus 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = parse(r);
  const json& vgpus = j.at("vgpus");
  ASSERT_EQ(vgpus.size(), 3u);
  std::vector<json> ranges;
  std::set<int> fences;
  for (const json& v : vgpus) {
    SCOPED_TRACE(v.dump());
    EXPECT_EQ(v.at("aperture").at("size_mib"), 64);
    EXPECT_EQ(v.at("hidden").at("size_mib"), 384);
    const json& g = v.at("guest");
    EXPECT_EQ(g.at("ok"), true);
    EXPECT_EQ(g.at("display_ready"), true);
    EXPECT_EQ(g.at("failsafe"), false);
    EXPECT_EQ(g.at("balloon_reserved_mib"), 3648);  // 4096 - 64 - 384
    for (const json& f : v.at("host_fences")) EXPECT_TRUE(fences.insert(f.get<int>()).second) << "shared fence";
    for (const char* which : {"aperture", "hidden"}) {
      for (const json& other : ranges) EXPECT_TRUE(disjoint(v.at(which), other)) << which << " overlaps";
      ranges.push_back(v.at(which));
    }
  }
  EXPECT_EQ(fences.size(), 12u);
  // Three GVTg_V5_8 taken from six: three left.
  const json* v58 = find_type(j.at("types"), "GVTg_V5_8");
  ASSERT_NE(v58, nullptr);
  EXPECT_EQ(v58->value("available", -1), 3);
}

TEST(Vgpuctl, DemoWithMoreVgpusThanTheApertureHoldsFailsClearly) {
  const Result r = vgpuctl("demo --vgpus 8");
  EXPECT_NE(r.exit_code, 0);
  // The 7th GVTg_V5_8 finds 0 of 384 free aperture MiB; the message says so.
  EXPECT_NE(r.err.find("aperture"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("64 MiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0 MiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("512 MiB"), std::string::npos) << r.err;
}

TEST(Vgpuctl, GgttLargerThan4GiBIsRejected) {
  const Result r = vgpuctl("types --ggtt-mib 8192");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("8192"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("4096"), std::string::npos) << r.err;
}

// The README's run command: every workload ran, and its picture is a PNG of the mode it set.
TEST(Vgpuctl, RunWritesAPictureOfEachWorkloadsScreen) {
  const std::string dir = temp_path("snapshots");
  const Result r = vgpuctl("run --seconds 0.75 --json --out " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["vgpus"].size(), 4u);
  std::set<std::string> workloads;
  for (const json& v : j["vgpus"]) {
    const json& d = v["display"];
    workloads.insert(d["workload"].get<std::string>());
    EXPECT_TRUE(d["ok"].get<bool>()) << d["error"];
    EXPECT_GE(d["frames"].get<int>(), 40);
    EXPECT_TRUE(v["guest"]["display_ready"].get<bool>());
    const bool big = d["workload"] == "modeswitch";
    EXPECT_EQ(d["width"], big ? 1920 : 1024);
    EXPECT_EQ(d["height"], big ? 1080 : 768);
    const std::string png = d["snapshot"];
    EXPECT_EQ(png.rfind(dir + "/vgpu", 0), 0u) << png;
    std::ifstream in(png, std::ios::binary);
    char magic[8] = {};
    in.read(magic, 8);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << png;
    std::remove(png.c_str());
  }
  EXPECT_EQ(workloads, (std::set<std::string>{"desktop", "console", "video", "modeswitch"}));
  ::rmdir(dir.c_str());
}

TEST(Vgpuctl, RunRefusesAnUnknownWorkload) {
  const Result r = vgpuctl("run --workloads desktop,solitaire --out " + temp_path("never"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("solitaire"), std::string::npos) << r.err;
  EXPECT_EQ(::access(temp_path("never").c_str(), F_OK), -1) << "nothing was created";
}

// ---------------------------------------------------------------------------------------------
// --config: a custom type is listed and usable.

class VgpuctlConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(path_) << "[[type]]\n"
                            "name = \"Custom_3\"\n"
                            "low_gm_mib = 96\n"
                            "high_gm_mib = 448\n"
                            "fences = 3\n"
                            "weight = 5\n"
                            "max_resolution = \"1280x720\"\n";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  const std::string path_ = temp_path("custom.toml");
};

TEST_F(VgpuctlConfig, CustomTypeIsListedWithItsSizes) {
  const Result r = vgpuctl("types --json --config " + path_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = parse(r);
  const json* t = find_type(j, "Custom_3");
  ASSERT_NE(t, nullptr) << r.out;
  EXPECT_EQ(t->value("low_gm_mib", -1), 96);
  EXPECT_EQ(t->value("high_gm_mib", -1), 448);
  EXPECT_EQ(t->value("fences", -1), 3);
  EXPECT_EQ(t->value("weight", -1), 5);
  EXPECT_EQ(t->value("resolution", ""), "1280x720");
  // min(384 / 96, 3200 / 448, 28 / 3) = min(4, 7, 9)
  EXPECT_EQ(t->value("available", -1), 4);
  EXPECT_NE(find_type(j, "GVTg_V5_8"), nullptr) << "standard types stay";
}

TEST_F(VgpuctlConfig, DemoRunsGuestsOnTheCustomType) {
  const Result r = vgpuctl("demo --json --type Custom_3 --vgpus 2 --config " + path_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = parse(r);
  ASSERT_EQ(j.at("vgpus").size(), 2u);
  for (const json& v : j.at("vgpus")) {
    EXPECT_EQ(v.at("type"), "Custom_3");
    EXPECT_EQ(v.at("aperture").at("size_mib"), 96);
    EXPECT_EQ(v.at("host_fences").size(), 3u);
    EXPECT_EQ(v.at("guest").at("display_ready"), true);
  }
}

}  // namespace
