// The virtual monitor as a display: what it enumerates, the buffers it makes and imports, and
// what it scans out: a primary pixel-exact after the vblank that latches it, overlay and cursor
// composed at their places (clipped at the edges), imported memory shown without a copy, tiled
// surfaces as the framebuffer layer detiles them.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "fb/compose.h"
#include "fb/convert.h"
#include "fb/detile.h"
#include "virtual_monitor_support.h"

namespace vgd::hostdisplay::test {
namespace {

TEST(VirtualMonitorResources, TwoOutputsEachWithOneCrtcAndThreePlanesOfItsOwn) {
  auto m = VirtualMonitor::create({});
  ASSERT_TRUE(m) << m.error();
  const Resources& r = (*m)->resources();
  ASSERT_EQ(r.outputs.size(), 2u);
  ASSERT_EQ(r.crtcs.size(), 2u);
  ASSERT_EQ(r.planes.size(), 6u);
  EXPECT_EQ((*m)->name(), "virtual");
  EXPECT_EQ(r.cursor_width, 256u);
  EXPECT_EQ(r.cursor_height, 256u);
  EXPECT_TRUE(r.async_page_flip);
  std::set<uint32_t> ids;
  for (uint32_t i = 0; i < 2; ++i) {
    const OutputInfo& o = r.outputs[i];
    EXPECT_EQ(o.name, "Virtual-" + std::to_string(i + 1));
    EXPECT_TRUE(o.connected);
    EXPECT_EQ(o.crtc_id, 0u) << "nothing is routed before the first modeset";
    EXPECT_EQ(o.possible_crtcs, 1u << i);
    ASSERT_EQ(o.modes.size(), 3u);
    EXPECT_EQ(o.modes[0].name, "1920x1080");
    EXPECT_TRUE(o.modes[0].preferred);
    EXPECT_EQ(o.modes[1].name, "1280x720");
    EXPECT_FALSE(o.modes[1].preferred);
    EXPECT_EQ(o.modes[2].width, 1024u);
    EXPECT_EQ(o.modes[2].refresh_mhz, 60'000u);
    EXPECT_EQ(r.crtcs[i].index, i);
    EXPECT_FALSE(r.crtcs[i].active);
    EXPECT_EQ(r.output(o.name), &o);
    ids.insert({o.connector_id, r.crtcs[i].id});
    EXPECT_FALSE((*m)->scanout(r.crtcs[i].id).image) << "an unlit CRTC scans out nothing";
    const PlaneType types[] = {PlaneType::Primary, PlaneType::Overlay, PlaneType::Cursor};
    for (uint32_t k = 0; k < 3; ++k) {
      const PlaneInfo& p = r.planes[i * 3 + k];
      EXPECT_EQ(p.type, types[k]);
      EXPECT_EQ(p.possible_crtcs, 1u << i) << "a plane serves its own CRTC only";
      EXPECT_EQ(p.zpos, k);
      ids.insert(p.id);
    }
  }
  EXPECT_EQ(ids.size(), 10u) << "connectors, CRTCs and planes share one id space";

  // Every format the fb layer composes, each linear and X/Y/Yf-tiled; the cursor ARGB only.
  const PlaneInfo& pri = r.planes[0];
  for (uint32_t f : {drm::kXRGB8888, drm::kARGB8888, drm::kXBGR8888, drm::kABGR8888, drm::kXRGB2101010,
                     drm::kXBGR2101010, drm::kRGB565, drm::kYUYV, drm::kUYVY, drm::kYVYU, drm::kVYUY})
    for (uint64_t mod : {drm::kModLinear, drm::kModXTiled, drm::kModYTiled, drm::kModYfTiled})
      EXPECT_TRUE(pri.supports({f, mod})) << std::hex << f << " " << mod;
  EXPECT_FALSE(pri.supports({drm::kC8, drm::kModLinear})) << "indexed needs a palette the monitor has not";
  EXPECT_EQ(r.planes[1].formats, pri.formats);
  EXPECT_EQ(r.planes[2].formats, (std::vector<FormatModifier>{{drm::kARGB8888, drm::kModLinear}}));
}

TEST(VirtualMonitorResources, OutputCountAndModesAreOptions) {
  VirtualMonitorOptions o;
  o.outputs = 3;
  o.modes = {kSmall, kBig};
  auto m = VirtualMonitor::create(o);
  ASSERT_TRUE(m) << m.error();
  const Resources& r = (*m)->resources();
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(r.outputs[2].name, "Virtual-3");
  ASSERT_EQ(r.outputs[2].modes.size(), 2u);
  EXPECT_TRUE(r.outputs[2].modes[0].same_timing(kSmall));
  EXPECT_TRUE(r.outputs[2].modes[0].preferred) << "the first mode is the preferred one";
  EXPECT_FALSE(r.outputs[2].modes[1].preferred);
  o.outputs = 0;
  EXPECT_FALSE(VirtualMonitor::create(o));
  o.outputs = 1;
  o.modes.clear();
  EXPECT_FALSE(VirtualMonitor::create(o));
}

TEST_F(VirtualMonitorTest, DumbBuffersAreWritableWithPitchAlignedTo64AndUniqueIds) {
  BufferRef a = buffer(100, 10), b = buffer(33, 7, drm::kRGB565);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->layout().pitch[0], 448u);  // 400 bytes up to 64
  EXPECT_EQ(b->layout().pitch[0], 128u);  // 66
  EXPECT_EQ(a->layout().format, (FormatModifier{drm::kXRGB8888, drm::kModLinear}));
  EXPECT_GE(a->pixels().size(), 448u * 10);
  EXPECT_EQ(a->bytes().data(), a->pixels().data());
  EXPECT_NE(a->fb_id(), b->fb_id());
  EXPECT_NE(a->fb_id(), 0u);
  for (const Resources& r = mon->resources(); const PlaneInfo& p : r.planes) EXPECT_NE(p.id, a->fb_id());
  EXPECT_FALSE(mon->create_buffer(64, 64, drm::kC8)) << "no palette";
  EXPECT_FALSE(mon->create_buffer(31, 8, drm::kYUYV)) << "half a macropixel";
  EXPECT_FALSE(mon->create_buffer(0, 8, drm::kXRGB8888));
}

TEST_F(VirtualMonitorTest, PrimaryShowsPixelExactAfterTheVblankThatLatchesItAndNotBefore) {
  light();
  const VirtualMonitor::Frame lit = mon->scanout(crtc);
  ASSERT_TRUE(lit.image) << "a modeset latches at once";
  EXPECT_EQ(lit.image->width, kBig.width);
  EXPECT_EQ(lit.image->height, kBig.height);
  EXPECT_TRUE(std::all_of(lit.image->px.begin(), lit.image->px.end(), [](uint32_t v) { return v == 0xFF000000u; }))
      << "a lit CRTC without planes shows black";

  BufferRef b = pattern(kBig.width, kBig.height, 1);
  commit_ok(planes({on(primary, crtc, b)}));
  EXPECT_EQ(mon->scanout(crtc).number, lit.number) << "nothing reaches the screen before the vblank";
  EXPECT_EQ(mon->scanout(crtc).image->px[0], 0xFF000000u);
  mon->advance_by(k60Hz - 1);
  EXPECT_EQ(mon->scanout(crtc).number, lit.number);

  mon->advance_by(1);
  const fb::Image& img = screen();
  EXPECT_EQ(last.number, lit.number + 1);
  for (uint32_t y = 0; y < img.height; ++y)
    for (uint32_t x = 0; x < img.width; ++x)
      ASSERT_EQ(img.at(x, y), 0xFF000000u | pattern_px(x, y, 1)) << x << "," << y;
  EXPECT_EQ(mon->vblank_count(crtc), 1u);
  EXPECT_EQ(mon->unreadable_planes(), 0u);
}

TEST_F(VirtualMonitorTest, OverlayAndCursorComposeAtTheirPlacesClippedAtTheEdges) {
  light();
  BufferRef bg = solid(kBig.width, kBig.height, 0xFF0000FF, drm::kXRGB8888);
  BufferRef ov = solid(40, 30, 0x80FF0000);  // half-transparent red
  // A 64x64 cursor: opaque green left half, transparent right half.
  BufferRef cur = buffer(64, 64, drm::kARGB8888);
  fill32(*cur, [](uint32_t x, uint32_t) { return x < 32 ? 0xFF00FF00u : 0x00000000u; });
  commit_ok(planes({on(primary, crtc, bg), on(overlay, crtc, ov, 100, 50), on(cursor, crtc, cur, -16, -8)}));
  mon->advance_to_next_vblank();
  const fb::Image& img = screen();
  const uint32_t blue = 0xFF0000FF, green = 0xFF00FF00, mixed = fb::blend_over(blue, 0x80FF0000);
  EXPECT_EQ(img.at(0, 0), green) << "the cursor's visible corner";
  EXPECT_EQ(img.at(15, 55), green);
  EXPECT_EQ(img.at(16, 0), blue) << "its transparent half";
  EXPECT_EQ(img.at(0, 56), blue) << "below the cursor";
  EXPECT_EQ(img.at(99, 50), blue);
  EXPECT_EQ(img.at(100, 50), mixed) << "the overlay blended over the primary";
  EXPECT_EQ(img.at(139, 79), mixed);
  EXPECT_EQ(img.at(140, 79), blue);
  EXPECT_EQ(img.at(139, 80), blue);

  // The cursor sticking out past the bottom-right corner, the overlay past the right edge.
  PlaneState c = on(cursor, crtc, cur, static_cast<int32_t>(kBig.width) - 8, static_cast<int32_t>(kBig.height) - 4);
  commit_ok(planes({c, on(overlay, crtc, ov, static_cast<int32_t>(kBig.width) - 10, 0)}));
  mon->advance_to_next_vblank();
  const fb::Image& moved = screen();
  EXPECT_EQ(moved.at(kBig.width - 1, kBig.height - 1), green);
  EXPECT_EQ(moved.at(kBig.width - 9, kBig.height - 1), blue);
  EXPECT_EQ(moved.at(0, 0), blue) << "the cursor left its old place";
  EXPECT_EQ(moved.at(kBig.width - 1, 0), mixed);
  EXPECT_EQ(moved.at(kBig.width - 11, 0), blue);
}

TEST_F(VirtualMonitorTest, ASourceWindowShowsThatPartOfTheBuffer) {
  light();
  BufferRef b = pattern(400, 300, 3);
  PlaneState p{primary, crtc, b, fixed16(30), fixed16(40), fixed16(200), fixed16(100), 10, 20, 200, 100, {}};
  commit_ok(planes({p}));
  mon->advance_to_next_vblank();
  const fb::Image& img = screen();
  EXPECT_EQ(img.at(10, 20), 0xFF000000u | pattern_px(30, 40, 3));
  EXPECT_EQ(img.at(209, 119), 0xFF000000u | pattern_px(229, 139, 3));
  EXPECT_EQ(img.at(9, 20), 0xFF000000u) << "outside the plane: the CRTC's black";
  EXPECT_EQ(img.at(210, 119), 0xFF000000u);
}

TEST_F(VirtualMonitorTest, ImportedMemfdIsShownWithoutACopy) {
  light();
  const uint32_t w = 64, h = 16, pitch = 256;
  const uint64_t offset = 4096 + 512;  // inside a page: the daemon exports ranges of RAM
  std::vector<std::byte> bytes(size_t{pitch} * h);
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x) {
      const uint32_t v = pattern_px(x, y, 5);
      std::memcpy(&bytes[y * pitch + x * 4], &v, 4);
    }
  UniqueFd fd = memfd_with(3 * 4096, offset, bytes);
  BufferLayout l{w, h, {drm::kXRGB8888, drm::kModLinear}, {pitch}, {offset}};
  auto b = mon->import(fd.get(), l);
  ASSERT_TRUE(b) << b.error();
  EXPECT_TRUE((*b)->pixels().empty()) << "imports are read-only";
  commit_ok(planes({on(primary, crtc, *b)}));
  mon->advance_to_next_vblank();
  EXPECT_EQ(screen().at(0, 0), 0xFF000000u | pattern_px(0, 0, 5));
  EXPECT_EQ(screen().at(63, 15), 0xFF000000u | pattern_px(63, 15, 5));

  // The owner writes its memory after the import: the buffer is that memory, not a copy of it.
  const uint32_t white = 0x00FFFFFF;
  ASSERT_EQ(::pwrite(fd.get(), &white, 4, static_cast<off_t>(offset + 5 * pitch + 7 * 4)), 4);
  uint32_t seen = 0;
  std::memcpy(&seen, (*b)->bytes().data() + 5 * pitch + 7 * 4, 4);
  EXPECT_EQ(seen, white);
  commit_ok(planes({on(primary, crtc, *b)}));  // the same buffer flipped again
  mon->advance_to_next_vblank();
  EXPECT_EQ(screen().at(7, 5), 0xFFFFFFFFu);
  EXPECT_EQ(screen().at(8, 5), 0xFF000000u | pattern_px(8, 5, 5));
}

TEST_F(VirtualMonitorTest, ImportRefusesLayoutsItsMemoryCannotHold) {
  UniqueFd fd = memfd_with(8192, 0, {});
  const BufferLayout ok{64, 16, {drm::kXRGB8888, drm::kModLinear}, {256}, {0}};
  EXPECT_TRUE(mon->import(fd.get(), ok));
  BufferLayout l = ok;
  l.offset[0] = 8192 - 100;
  EXPECT_FALSE(mon->import(fd.get(), l)) << "past the end of the memfd";
  l = ok;
  l.pitch[0] = 200;
  EXPECT_FALSE(mon->import(fd.get(), l)) << "pitch shorter than a row";
  l = ok;
  l.format.modifier = drm::kModXTiled;
  EXPECT_FALSE(mon->import(fd.get(), l)) << "X tiles are 512 bytes wide";
  l = ok;
  l.format.fourcc = drm::kC8;
  EXPECT_FALSE(mon->import(fd.get(), l));
  l = ok;
  l.format.modifier = 0x0100000000000004ull;  // a modifier the fb layer does not read
  EXPECT_FALSE(mon->import(fd.get(), l));
  EXPECT_FALSE(mon->import(-1, ok));
}

// A random surface in each tiling, shown through a window that starts inside a tile: the
// screen holds what the fb layer's detiler reads from it.
TEST_F(VirtualMonitorTest, TiledBuffersComposeAsTheFbLayerDetilesThem) {
  light();
  struct Case { uint64_t modifier; hw::Tiling tiling; };
  for (const Case& c : {Case{drm::kModXTiled, hw::Tiling::X}, Case{drm::kModYTiled, hw::Tiling::Y},
                        Case{drm::kModYfTiled, hw::Tiling::Yf}}) {
    SCOPED_TRACE(static_cast<int>(c.tiling));
    const uint32_t w = 256, h = 64, pitch = 1024;  // two X tiles, eight Y tiles per row of tiles
    std::vector<std::byte> bytes(size_t{pitch} * h);
    std::mt19937 rng(static_cast<uint32_t>(c.modifier));
    for (std::byte& v : bytes) v = static_cast<std::byte>(rng());
    UniqueFd fd = memfd_with(bytes.size(), 0, bytes);
    auto b = mon->import(fd.get(), BufferLayout{w, h, {drm::kXRGB8888, c.modifier}, {pitch}, {0}});
    ASSERT_TRUE(b) << b.error();
    const fb::Window win{16, 3, 200, 50};
    PlaneState p{primary, crtc, *b, fixed16(win.x), fixed16(win.y), fixed16(win.width), fixed16(win.height), 5, 6,
                 win.width, win.height, {}};
    commit_ok(planes({p}));
    mon->advance_to_next_vblank();

    auto linear = fb::detile(fb::TiledSurface{bytes, c.tiling, 4, pitch}, win);
    ASSERT_TRUE(linear) << linear.error();
    const fb::Image& img = screen();
    for (uint32_t y = 0; y < win.height; ++y)
      for (uint32_t x = 0; x < win.width; ++x) {
        uint32_t v = 0;
        std::memcpy(&v, linear->data() + (size_t{y} * win.width + x) * 4, 4);
        ASSERT_EQ(img.at(5 + x, 6 + y), 0xFF000000u | (v & 0xFFFFFF)) << x << "," << y;
      }
  }
}

TEST_F(VirtualMonitorTest, OtherFormatsConvertAsTheFbLayerConvertsThem) {
  light();
  for (uint32_t f : {drm::kRGB565, drm::kYUYV, drm::kXBGR2101010}) {
    SCOPED_TRACE(f);
    BufferRef b = buffer(64, 4, f);
    std::mt19937 rng(f);
    for (std::byte& v : b->pixels()) v = static_cast<std::byte>(rng());
    commit_ok(planes({on(primary, crtc, b)}));
    mon->advance_to_next_vblank();
    std::vector<uint32_t> row(64);
    fb::row_converter(f, fb::Output::Argb)(b->bytes().data() + 2 * b->layout().pitch[0], 0, 64, row.data());
    const fb::Image& img = screen();
    for (uint32_t x = 0; x < 64; ++x) ASSERT_EQ(img.at(x, 2), row[x]) << x;
  }
}

TEST_F(VirtualMonitorTest, ViewersAreToldOfEachNewFrameAndOnlyThen) {
  std::vector<std::pair<uint32_t, uint64_t>> told;
  mon->set_frame_listener([&](uint32_t c, uint64_t n) { told.emplace_back(c, n); });
  light();
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0], std::make_pair(crtc, mon->scanout(crtc).number));
  mon->advance_by(10 * k60Hz);
  EXPECT_EQ(told.size(), 1u) << "vblanks without a commit make no new frame";
  BufferRef b = pattern(64, 64, 2);
  commit_ok(planes({on(primary, crtc, b)}));
  EXPECT_EQ(told.size(), 1u);
  mon->advance_to_next_vblank();
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[1], std::make_pair(crtc, told[0].second + 1));

  // Switched off: a last frame, with nothing to show.
  State off;
  off.crtcs.push_back(CrtcState{crtc, false, std::nullopt, std::nullopt});
  commit_ok(off, kAllowModeset);
  ASSERT_EQ(told.size(), 3u);
  EXPECT_FALSE(mon->scanout(crtc).image);
  EXPECT_EQ(mon->scanout(crtc).number, told[2].second);
  EXPECT_FALSE(mon->advance_to_next_vblank()) << "an off CRTC has no vblanks";
}

// The real clock on the monitor's own thread; the bound only catches a hang.
TEST(VirtualMonitorRealClock, ItsThreadLatchesAndSignalsTheFlipEvent) {
  VirtualMonitorOptions o;
  o.outputs = 1;
  o.modes = {kSmall};
  o.clock_thread = true;
  auto m = VirtualMonitor::create(o);
  ASSERT_TRUE(m) << m.error();
  VirtualMonitor& mon = **m;
  const Resources& r = mon.resources();
  State s;
  s.crtcs.push_back(CrtcState{r.crtcs[0].id, true, kSmall, r.outputs[0].connector_id});
  ASSERT_TRUE(mon.commit(s, kAllowModeset));
  auto b = mon.create_buffer(64, 64, drm::kXRGB8888);
  ASSERT_TRUE(b);
  State flip;
  flip.planes.push_back(PlaneState{r.planes[0].id, r.crtcs[0].id, *b, 0, 0, fixed16(64), fixed16(64), 0, 0, 64, 64, {}});
  const uint64_t before = mon.now_ns();
  ASSERT_TRUE(mon.commit(flip, kNonblock | kPageFlipEvent, 42));
  pollfd p{mon.event_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "no flip event within 10 s";
  std::vector<FlipEvent> got;
  mon.dispatch([&](const FlipEvent& e) { got.push_back(e); });
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].user_data, 42u);
  EXPECT_GE(got[0].sequence, 1u);
  EXPECT_GT(static_cast<uint64_t>(got[0].timestamp.count()), before);
  EXPECT_TRUE(mon.scanout(r.crtcs[0].id).image);
}

}  // namespace
}  // namespace vgd::hostdisplay::test
