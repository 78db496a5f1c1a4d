// The pictures of the workloads as pure functions of the frame number: what each one draws,
// separate from how it reaches the display (workloads.cpp), so tests can draw the same.
#include "guest/workloads.h"

#include <algorithm>
#include <cstring>

namespace vgd::guest {

namespace {

// A fixed-size line of text: the guest has no printf.
struct Text {
  char s[96] = {};
  uint32_t n = 0;
  Text& add(const char* t) {
    while (*t != '\0' && n + 1 < sizeof s) s[n++] = *t++;
    return *this;
  }
  // v in decimal, padded on the left to `digits` characters.
  Text& num(uint32_t v, uint32_t digits, char pad = '0') {
    char d[10];
    uint32_t k = 0;
    do d[k++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0);
    for (; digits > k && n + 1 < sizeof s; --digits) s[n++] = pad;
    while (k > 0 && n + 1 < sizeof s) s[n++] = d[--k];
    return *this;
  }
};

// Triangle wave over [0, range]: t counts up, the result goes up and back down.
int32_t bounce(uint64_t t, uint32_t range) {
  if (range == 0) return 0;
  t %= 2ull * range;
  return static_cast<int32_t>(t <= range ? t : 2ull * range - t);
}

struct Rect {
  int32_t x, y, w, h;
};

// A rectangle given in percent of the canvas, so one scene fits every mode.
Rect percent(const Canvas& c, int32_t x, int32_t y, int32_t w, int32_t h) {
  const auto cw = static_cast<int32_t>(c.width()), ch = static_cast<int32_t>(c.height());
  return {cw * x / 100, ch * y / 100, cw * w / 100, ch * h / 100};
}

// Window decoration (shadow, border, title bar with buttons); returns the client area.
Rect draw_window(Canvas& c, Rect r, const char* title, uint32_t body) {
  constexpr int32_t kTitle = 22;
  constexpr uint32_t kButtons[3] = {0xFFE0443E, 0xFFDEA123, 0xFF1AAB29};
  c.fill_rect(r.x + 6, r.y + 6, r.w, r.h, 0xFF0B1622);
  c.fill_rect(r.x, r.y, r.w, r.h, 0xFF5A6470);
  c.fill_rect(r.x + 1, r.y + 1, r.w - 2, kTitle, 0xFF2F3640);
  c.draw_text(r.x + 10, r.y + 8, title, 0xFFF0F0F0);
  for (int32_t i = 0; i < 3; ++i) c.fill_rect(r.x + r.w - 20 - 16 * i, r.y + 7, 10, 10, kButtons[i]);
  const Rect client{r.x + 1, r.y + 1 + kTitle, r.w - 2, r.h - 2 - kTitle};
  c.fill_rect(client.x, client.y, client.w, client.h, body);
  return client;
}

// Lines top-down in the client area, each cut to the width, as many as fit.
void draw_lines(Canvas& c, Rect area, const char* const* lines, uint32_t count, uint32_t color, bool numbered) {
  const auto max_chars = static_cast<uint32_t>(std::max((area.w - 16) / 8, 0));
  for (uint32_t i = 0; i < count && static_cast<int32_t>(12 * i + 20) <= area.h; ++i) {
    Text t;
    if (numbered) t.num(i + 1, 3, ' ').add(" ");
    t.add(lines[i]);
    t.s[std::min<uint32_t>(t.n, max_chars)] = '\0';
    c.draw_text(area.x + 8, area.y + 8 + static_cast<int32_t>(12 * i), t.s, color);
  }
}

constexpr const char* kTerminal[] = {
    "$ uname -srm", "Linux 6.1.0-vgd x86_64", "$ cat /sys/kernel/debug/gvt/vgpu1/type", "GVTg_V5_8",
    "$ glxgears",   "301 frames in 5.0 seconds = 60.2 FPS", "$ dmesg | grep -c i915", "42"};
constexpr const char* kEditor[] = {
    "#include \"guest/workloads.h\"", "", "// Draw, flip, repeat: sixty times a second.", "int main() {",
    "  DesktopWorkload desk;", "  desk.start(display, driver, Pipe::A);", "  for (uint32_t n = 1;; ++n) {",
    "    if (desk.frame(n) != Error::None)", "      return 1;", "  }", "}"};

// The cursor: a classic arrow, tip at the hotspot, as a polygon in pixels from the tip.
struct Vertex {
  int32_t x, y;
};
constexpr Vertex kArrow[] = {{0, 0}, {0, 25}, {6, 19}, {10, 28}, {14, 26}, {10, 17}, {18, 17}};

// Whether the centre of pixel (u, v) (tip-relative) lies inside the arrow: crossing count in
// doubled coordinates, so centres are odd and never sit exactly on a vertex.
bool in_arrow(int32_t u, int32_t v) {
  const int64_t px = 2 * int64_t{u} + 1, py = 2 * int64_t{v} + 1;
  constexpr size_t kN = sizeof kArrow / sizeof kArrow[0];
  bool in = false;
  for (size_t i = 0, j = kN - 1; i < kN; j = i++) {
    const int64_t xi = 2 * kArrow[i].x, yi = 2 * kArrow[i].y, xj = 2 * kArrow[j].x, yj = 2 * kArrow[j].y;
    if ((yi > py) == (yj > py)) continue;
    const int64_t lhs = (px - xi) * (yj - yi), rhs = (py - yi) * (xj - xi);  // px < edge x at py
    if (yj > yi ? lhs < rhs : lhs > rhs) in = !in;
  }
  return in;
}

// The console's boot log: line i is a kernel-style timestamp and a message.
constexpr const char* kBootLog[] = {
    "Linux version 6.1.0-vgd (builder@vgd) (gcc 12.2.0) #1 SMP PREEMPT_DYNAMIC",
    "Command line: root=/dev/vda1 console=tty0 quiet=0",
    "BIOS-provided physical RAM map:",
    "ACPI: RSDP 0x00000000000F0490 000024 (v02 VGD   )",
    "PCI: Using configuration type 1 for base access",
    "pci 0000:00:02.0: [8086:1912] type 00 class 0x030000",
    "i915 0000:00:02.0: Virtual GPU for Intel GVT-g detected.",
    "i915 0000:00:02.0: vgpu: ballooning mappable and unmappable holes",
    "[drm] Initialized i915 1.6.0 for 0000:00:02.0 on minor 0",
    "fbcon: i915drmfb (fb0) is primary device",
    "Console: switching to colour frame buffer device 128x64",
    "EXT4-fs (vda1): mounted filesystem with ordered data mode.",
    "systemd[1]: Detected virtualization kvm.",
    "systemd[1]: Reached target Local File Systems.",
    "systemd[1]: Started Journal Service.",
    "systemd[1]: Reached target Network.",
    "systemd[1]: Started OpenSSH server daemon.",
    "random: crng init done",
};
constexpr uint32_t kConsoleBg = 0xFF000000, kConsoleText = 0xFFC8C8C8, kConsoleTime = 0xFF6C7A89;

int32_t row_y(uint32_t row) { return static_cast<int32_t>(row * ConsoleWorkload::kLineHeight); }

// The video sprite at (ox, oy) of any canvas; everything stays inside its kWidth × kHeight box.
void draw_sprite(Canvas& c, int32_t ox, int32_t oy, uint32_t n) {
  constexpr uint32_t kBars[8] = {0xFFC0C0C0, 0xFFC0C000, 0xFF00C0C0, 0xFF00C000,
                                 0xFFC000C0, 0xFFC00000, 0xFF0000C0, 0xFF000000};
  constexpr int32_t kW = VideoWorkload::kWidth, kBarW = kW / 8, kBarsH = 180;
  const auto shift = static_cast<int32_t>(n * 2 % kW);  // even: bars never split a macropixel
  for (int32_t k = 0; k < 8; ++k) {
    const int32_t x = (k * kBarW + shift) % kW;
    c.fill_rect(ox + x, oy, std::min(kBarW, kW - x), kBarsH, kBars[k]);
    if (x + kBarW > kW) c.fill_rect(ox, oy, x + kBarW - kW, kBarsH, kBars[k]);
  }
  c.fill_rect(ox, oy + kBarsH, kW, static_cast<int32_t>(VideoWorkload::kHeight) - kBarsH, 0xFF202020);
  Text t;
  t.add("FRAME ").num(n, 6);
  c.draw_text(ox + 16, oy + kBarsH + 14, t.s, 0xFFFFFFFF, 2);
  c.fill_rect(ox + 16, oy + kBarsH + 42, static_cast<int32_t>(2 * (n % 145)), 8, 0xFFC0C0C0);
}

}  // namespace

// --- desktop ---

void DesktopWorkload::clock_text(uint32_t n, char (&out)[9]) {
  const uint32_t s = (kStartSecond + n / kFps) % 86400;
  Text t;
  t.num(s / 3600, 2).add(":").num(s / 60 % 60, 2).add(":").num(s % 60, 2);
  std::memcpy(out, t.s, sizeof out);
}

void DesktopWorkload::render_scene(Canvas& c, uint32_t n) {
  const auto w = static_cast<int32_t>(c.width()), h = static_cast<int32_t>(c.height());
  c.vgradient(0, 0, w, h, 0xFF1D3557, 0xFF5C8DB8);
  c.fill_rect(0, 0, w, 28, 0xFF15191E);  // top panel with the clock
  c.draw_text(12, 6, "Activities", 0xFFE0E0E0, 2);
  char clock[9];
  clock_text(n, clock);
  c.draw_text(w - 12 - static_cast<int32_t>(Canvas::text_width(clock, 2)), 6, clock, 0xFFFFFFFF, 2);

  const Rect term = draw_window(c, percent(c, 5, 11, 45, 40), "Terminal", 0xFF101010);
  draw_lines(c, term, kTerminal, sizeof kTerminal / sizeof kTerminal[0], 0xFF4EE07A, false);

  const Rect mon = draw_window(c, percent(c, 6, 58, 28, 34), "System Monitor", 0xFF23262E);
  Text t;
  t.add("CPU   frame ").num(n, 6);
  c.draw_text(mon.x + 8, mon.y + 8, t.s, 0xFFE0E0E0);
  const int32_t bar_w = (mon.w - 16) / 12, bottom = mon.y + mon.h - 8, max_h = mon.h - 36;
  for (int32_t k = 0; k < 12; ++k) {  // load bars that move every frame
    const int32_t bh = max_h * bounce(uint64_t{n} * static_cast<uint32_t>(k + 2) + 29u * static_cast<uint32_t>(k), 100) / 100;
    c.fill_rect(mon.x + 8 + k * bar_w, bottom - bh, bar_w - 3, bh, k % 3 == 0 ? 0xFFF4A261 : 0xFF2A9D8F);
  }

  const Rect ed = draw_window(c, percent(c, 40, 30, 54, 52), "Editor - main.cpp", 0xFFF8F8F2);
  draw_lines(c, ed, kEditor, sizeof kEditor / sizeof kEditor[0], 0xFF272822, true);
}

Point DesktopWorkload::cursor_position(uint32_t n, uint32_t screen_width, uint32_t screen_height) {
  return {bounce(7ull * n, screen_width + 16) - 24, bounce(5ull * n, screen_height + 16) - 24};
}

uint32_t DesktopWorkload::cursor_pixel(uint32_t x, uint32_t y) {
  const int32_t u = static_cast<int32_t>(x - kHotX), v = static_cast<int32_t>(y - kHotY);
  if (in_arrow(u, v)) {
    const bool edge = !in_arrow(u - 1, v) || !in_arrow(u + 1, v) || !in_arrow(u, v - 1) || !in_arrow(u, v + 1);
    return edge ? 0xFF000000 : 0xFFFFFFFF;
  }
  return in_arrow(u - 2, v - 2) ? 0x60000000 : 0;  // shadow down-right, to exercise blending
}

void DesktopWorkload::render_cursor(Canvas& c) {
  uint32_t row[kCursorSize];
  for (uint32_t y = 0; y < kCursorSize; ++y) {
    for (uint32_t x = 0; x < kCursorSize; ++x) row[x] = cursor_pixel(x, y);
    c.blit(0, static_cast<int32_t>(y), row, kCursorSize, 1);
  }
}

// --- console ---

ConsoleWorkload::State ConsoleWorkload::state(uint32_t height, uint32_t n) {
  const uint32_t rows = std::max(height / kLineHeight, 1u);
  const uint32_t lines = n / kFramesPerLine + 1;
  // The cursor takes the row below the last line; once the screen is full, it scrolls.
  return {rows, lines, lines + 1 > rows ? lines + 1 - rows : 0, n / kBlinkFrames % 2 == 0};
}

void ConsoleWorkload::draw_log_row(Canvas& c, uint32_t row, uint32_t line) {
  c.fill_rect(0, row_y(row), static_cast<int32_t>(c.width()), kLineHeight, kConsoleBg);
  const uint32_t us = line * 61237 + line * 7919 % 1000;
  Text t;
  t.add("[").num(us / 1000000, 5, ' ').add(".").num(us % 1000000, 6).add("] ");
  const int32_t x = c.draw_text(8, row_y(row) + 2, t.s, kConsoleTime);
  c.draw_text(x, row_y(row) + 2, kBootLog[line % (sizeof kBootLog / sizeof kBootLog[0])], kConsoleText);
}

void ConsoleWorkload::draw_cursor_row(Canvas& c, uint32_t row, bool on) {
  c.fill_rect(0, row_y(row), static_cast<int32_t>(c.width()), kLineHeight, kConsoleBg);
  if (on) c.fill_rect(8, row_y(row) + 1, 8, 10, kConsoleText);
}

void ConsoleWorkload::render_scene(Canvas& c, uint32_t n) {
  const State s = state(c.height(), n);
  c.clear(kConsoleBg);
  for (uint32_t i = s.top; i < s.lines; ++i) draw_log_row(c, i - s.top, i);
  draw_cursor_row(c, s.lines - s.top, s.cursor_on);
}

// --- video ---

void VideoWorkload::render_background(Canvas& c) {
  const auto w = static_cast<int32_t>(c.width()), h = static_cast<int32_t>(c.height());
  c.vgradient(0, 0, w, h, 0xFF14161A, 0xFF2C3440);
  c.draw_text(24, 20, "vgd player - test pattern", 0xFFE8E8E8, 2);
  c.draw_text(24, h - 32, "YUV 4:2:2 overlay on the sprite plane, flipped every frame", 0xFF9AA4B0);
}

void VideoWorkload::render_sprite(Canvas& c, uint32_t n) { draw_sprite(c, 0, 0, n); }

Point VideoWorkload::sprite_position(uint32_t n, uint32_t screen_width, uint32_t screen_height) {
  return {bounce(3ull * n, screen_width > kWidth ? screen_width - kWidth : 0),
          bounce(2ull * n, screen_height > kHeight ? screen_height - kHeight : 0)};
}

void VideoWorkload::render_scene(Canvas& c, uint32_t n) {
  render_background(c);
  const Point at = sprite_position(n, c.width(), c.height());
  draw_sprite(c, at.x, at.y, n);
}

}  // namespace vgd::guest
