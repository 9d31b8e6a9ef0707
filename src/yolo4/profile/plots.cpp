#include "yolo4/profile/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "yolo4/core/error.h"

namespace yolo4::profile {

namespace {

constexpr double kWidth = 1200;
constexpr double kLeft = 90;   // room for the left axis and its title
constexpr double kRight = 90;  // room for a right axis
constexpr double kPanelGap = 30;
const char* const kColorA = "#3b6fb6";
const char* const kColorB = "#e8833a";
const char* const kUtilColor = "#c0392b";
const char* const kGrid = "#e3e3e3";
const char* const kAxis = "#555";
const char* const kCorePalette[] = {"#3b6fb6", "#7fb8e0", "#44aa99", "#c9b347",
                                    "#aa4499", "#999933", "#882255"};

// --- small formatting helpers ------------------------------------------------------------------

std::string format(const char* fmt, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, fmt, v);
  return buffer;
}

std::string ms(double ns) {
  const double v = ns * 1e-6;
  return format(v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : v >= 1 ? "%.2f" : "%.3f", v);
}

std::string percent(double part, double whole) {
  return whole > 0 ? format("%.1f%%", 100 * part / whole) : "-";
}

// --- scales and axes ---------------------------------------------------------------------------

struct Frame {
  double x, y, w, h;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
};

struct Scale {
  double hi = 1, step = 1;
  double decimals = 0;
  std::vector<double> ticks() const {
    std::vector<double> t;
    for (double v = 0; v <= hi + step * 1e-6; v += step) t.push_back(v);
    return t;
  }
  std::string label(double v) const { return format(("%." + std::to_string(int(decimals)) + "f").c_str(), v); }
};

Scale nice_scale(double max_value, int target_ticks = 5) {
  if (!(max_value > 0)) max_value = 1;
  const double raw = max_value / target_ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  Scale s;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    s.step = m * magnitude;
    if (s.step >= raw) break;
  }
  s.hi = std::ceil(max_value / s.step - 1e-9) * s.step;
  while (s.decimals < 4 && std::fabs(std::round(s.step * std::pow(10, s.decimals)) -
                                     s.step * std::pow(10, s.decimals)) > 1e-6) {
    ++s.decimals;
  }
  return s;
}

double y_of(const Frame& f, const Scale& s, double v) { return f.bottom() - v / s.hi * f.h; }
double x_of(const Frame& f, const Scale& s, double v) { return f.x + v / s.hi * f.w; }

void draw_y_axis(Svg& svg, const Frame& f, const Scale& s, const std::string& title, bool right,
                 const std::string& color = kAxis) {
  const double x = right ? f.right() : f.x;
  for (double v : s.ticks()) {
    const double y = y_of(f, s, v);
    if (!right) svg.line(f.x, y, f.right(), y, kGrid);
    svg.line(x, y, x + (right ? 4 : -4), y, color);
    svg.text(x + (right ? 7 : -7), y + 4,
             s.label(v), {11, right ? Anchor::kStart : Anchor::kEnd, false, color});
  }
  svg.line(x, f.y, x, f.bottom(), color);
  const double tx = right ? f.right() + 62 : f.x - 58;
  svg.text(tx, f.y + f.h / 2, title, {12, Anchor::kMiddle, false, color, right ? 90.0 : -90.0});
}

void draw_x_axis(Svg& svg, const Frame& f, const Scale& s, const std::string& title) {
  for (double v : s.ticks()) {
    const double x = x_of(f, s, v);
    svg.line(x, f.y, x, f.bottom(), kGrid);
    svg.line(x, f.bottom(), x, f.bottom() + 4, kAxis);
    svg.text(x, f.bottom() + 16, s.label(v), {11, Anchor::kMiddle});
  }
  svg.line(f.x, f.bottom(), f.right(), f.bottom(), kAxis);
  svg.text(f.x + f.w / 2, f.bottom() + 34, title, {12, Anchor::kMiddle});
}

// Greedy word wrap to `width` at font `size`.
std::vector<std::string> wrap(const std::string& text, double width, double size) {
  std::vector<std::string> lines(1);
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find(' ', begin);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(begin, end - begin);
    const std::string joined = lines.back().empty() ? word : lines.back() + " " + word;
    if (!lines.back().empty() && text_width(joined, size) > width) {
      lines.push_back(word);
    } else {
      lines.back() = joined;
    }
    begin = end + 1;
  }
  return lines;
}

// Title and description (wrapped); returns where the panel's content may start.
double draw_heading(Svg& svg, double top, const std::string& title, const std::string& subtitle) {
  svg.line(20, top, kWidth - 20, top, "#bbb");
  svg.text(20, top + 24, title, {16, Anchor::kStart, true});
  double y = top + 43;
  size_t begin = 0;
  while (begin <= subtitle.size()) {  // '\n' separates paragraphs; each wraps
    size_t end = subtitle.find('\n', begin);
    if (end == std::string::npos) end = subtitle.size();
    for (const std::string& line : wrap(subtitle.substr(begin, end - begin), kWidth - 40, 12)) {
      svg.text(20, y, line, {12, Anchor::kStart, false, "#444"});
      y += 16;
    }
    begin = end + 1;
  }
  return y - 7;
}

struct LegendItem {
  std::string color, label;
  bool dot = false;
};

// One row of legend entries, right-aligned at `right`.
void draw_legend(Svg& svg, double right, double y, const std::vector<LegendItem>& items) {
  double width = 0;
  for (const LegendItem& item : items) width += 18 + text_width(item.label, 11) + 20;
  double x = right - width + 20;
  for (const LegendItem& item : items) {
    if (item.dot) {
      svg.circle(x + 6, y - 4, 4, item.color);
    } else {
      svg.rect(x, y - 10, 12, 12, item.color);
    }
    svg.text(x + 18, y, item.label, {11});
    x += 18 + text_width(item.label, 11) + 20;
  }
}

// --- per-op charts -----------------------------------------------------------------------------

// Index ticks at a round step wide enough for their labels.
void draw_index_ticks(Svg& svg, const Frame& f, size_t slots) {
  const double slot = f.w / double(slots);
  int step = 1;
  for (int candidate : {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000}) {
    step = candidate;
    if (candidate * slot >= text_width("0000", 11) + 6) break;
  }
  for (size_t i = 0; i < slots; i += size_t(step)) {
    const double x = f.x + (double(i) + 0.5) * slot;
    svg.line(x, f.bottom(), x, f.bottom() + 4, kAxis);
    svg.text(x, f.bottom() + 15, std::to_string(i), {10, Anchor::kMiddle});
  }
  svg.line(f.x, f.bottom(), f.right(), f.bottom(), kAxis);
}

// Runs of consecutive slots in the same module, drawn as labelled bands under the x axis and as
// faint separators in the plot.
void draw_module_bands(Svg& svg, const Frame& f, const std::vector<std::string>& modules) {
  const double slot = f.w / double(modules.size());
  const double y = f.bottom() + 21;
  size_t begin = 0;
  int band = 0;
  for (size_t i = 1; i <= modules.size(); ++i) {
    if (i < modules.size() && modules[i] == modules[begin]) continue;
    const double x0 = f.x + double(begin) * slot, x1 = f.x + double(i) * slot;
    svg.rect(x0, y, x1 - x0, 18, band++ % 2 ? "#dfe6f0" : "#eef2f8", modules[begin]);
    if (begin > 0) svg.line(x0, f.y, x0, y + 18, "#9aa8ba", 1, true);
    for (double size : {11.0, 9.0}) {
      if (text_width(modules[begin], size) <= x1 - x0 - 2) {
        svg.text((x0 + x1) / 2, y + 13, modules[begin], {size, Anchor::kMiddle});
        break;
      }
    }
    begin = i;
  }
}

int grid_of(const std::vector<OpRow>& rows, const SheetInfo& info) {
  int grid = info.grid_cores;
  for (const OpRow& r : rows) grid = std::max(grid, r.cores);
  return std::max(grid, 1);
}

// A colour per core count, largest first; counts beyond the palette share its last colour.
std::map<int, std::string> core_colors(const std::vector<OpRow>& rows) {
  std::vector<int> counts;
  for (const OpRow& r : rows) counts.push_back(r.cores);
  std::sort(counts.rbegin(), counts.rend());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  std::map<int, std::string> colors;
  const size_t palette = std::size(kCorePalette);
  for (size_t i = 0; i < counts.size(); ++i) colors[counts[i]] = kCorePalette[std::min(i, palette - 1)];
  return colors;
}

std::vector<LegendItem> core_legend(const std::map<int, std::string>& colors, int grid) {
  std::vector<LegendItem> items;
  const size_t palette = std::size(kCorePalette);
  size_t i = 0;
  for (auto it = colors.rbegin(); it != colors.rend(); ++it, ++i) {
    if (i + 1 == palette && colors.size() > palette) {
      items.push_back({it->second, "fewer cores"});
      break;
    }
    std::string label = std::to_string(it->first) + (it->first == 1 ? " core" : " cores");
    if (it->first == grid) label += " (full grid)";
    items.push_back({it->second, label});
  }
  return items;
}

std::string op_tooltip(const OpRow& r) {
  return detail::concat("#", r.index, " ", r.path, " ", r.op, " ", r.input_shape, " -> ",
                        r.output_shape, "\n", ms(double(r.duration_ns)), " ms on ", r.cores,
                        " cores, ", format("%.1f", r.utilisation), "% utilisation, ",
                        format("%.3f", r.flops * 1e-9), " GFLOP");
}

double max_duration(const std::vector<OpRow>& rows) {
  double m = 0;
  for (const OpRow& r : rows) m = std::max(m, double(r.duration_ns));
  return m;
}

std::vector<std::string> modules_of(const std::vector<OpRow>& rows) {
  std::vector<std::string> modules;
  for (const OpRow& r : rows) modules.push_back(module_of(r.path));
  return modules;
}

void draw_utilisation(Svg& svg, const Frame& f, const std::vector<OpRow>& rows) {
  double top = 100;
  for (const OpRow& r : rows) top = std::max(top, r.utilisation);
  const Scale s = nice_scale(top, 5);
  draw_y_axis(svg, f, s, "utilisation (%, dots)", true, kUtilColor);
  const double slot = f.w / double(rows.size());
  const double radius = std::clamp(slot * 0.3, 1.5, 3.0);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].flops <= 0) continue;
    svg.circle(f.x + (double(i) + 0.5) * slot, y_of(f, s, rows[i].utilisation), radius,
               kUtilColor, op_tooltip(rows[i]));
  }
}

}  // namespace

double draw_per_op_panel(Svg& svg, double top, const std::vector<OpRow>& rows,
                         const SheetInfo& info) {
  const int grid = grid_of(rows, info);
  const double total = total_duration_ns(rows);
  double y = draw_heading(svg, top, "(a) Per-op duration and utilisation: " + info.label,
                          detail::concat(info.description, info.description.empty() ? "" : "; ",
                                         rows.size(), " ops in execution order, sum of op medians ",
                                         ms(total), " ms\nutilisation = (ideal / duration) x (",
                                         grid, " grid cores / cores used), ideal = FLOPs at the "
                                         "per-core peak on all ", grid, " cores (the report's PM ideal)"));
  const std::map<int, std::string> colors = core_colors(rows);
  std::vector<LegendItem> legend = core_legend(colors, grid);
  legend.push_back({kUtilColor, "utilisation (right axis)", true});
  draw_legend(svg, kWidth - kRight, y + 10, legend);
  const Frame f{kLeft, y + 24, kWidth - kLeft - kRight, 300};
  if (rows.empty()) return f.bottom();
  const Scale s = nice_scale(max_duration(rows) * 1e-6, 6);
  draw_y_axis(svg, f, s, "duration (ms, median)", false);
  const double slot = f.w / double(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const double v = double(rows[i].duration_ns) * 1e-6;
    const double bar_w = std::max(1.0, slot * 0.75);
    svg.rect(f.x + double(i) * slot + (slot - bar_w) / 2, y_of(f, s, v), bar_w,
             f.bottom() - y_of(f, s, v), colors.at(rows[i].cores), op_tooltip(rows[i]));
  }
  draw_utilisation(svg, f, rows);
  draw_index_ticks(svg, f, rows.size());
  draw_module_bands(svg, f, modules_of(rows));
  svg.text(f.x + f.w / 2, f.bottom() + 58,
           "op index in execution order (bands: module); bar colour: cores used", {12, Anchor::kMiddle});
  return f.bottom() + 66;
}

// --- breakdowns --------------------------------------------------------------------------------

namespace {

struct Bar {
  std::string label;
  std::vector<double> values_ns;  // one per configuration
  std::vector<std::string> notes;  // printed after each bar
};

// Horizontal bars, one row per category, one bar per configuration inside a row.
double draw_hbars(Svg& svg, double x, double y, double width, const std::string& title,
                  const std::vector<Bar>& bars, const std::vector<std::string>& colors) {
  svg.text(x + width / 2, y + 14, title, {13, Anchor::kMiddle, true});
  double label_w = 0, note_w = 0, max_v = 0;
  for (const Bar& b : bars) {
    label_w = std::max(label_w, text_width(b.label, 12));
    for (const std::string& n : b.notes) note_w = std::max(note_w, text_width(n, 11));
    for (double v : b.values_ns) max_v = std::max(max_v, v * 1e-6);
  }
  const double per_bar = 14, row_h = per_bar * double(colors.size()) + 12;
  const Frame f{x + label_w + 10, y + 26, width - label_w - 10 - note_w - 12,
                std::max(row_h * double(bars.size()), 60.0)};
  const Scale s = nice_scale(max_v, 4);
  draw_x_axis(svg, f, s, "time (ms, sum of op medians)");
  for (size_t i = 0; i < bars.size(); ++i) {
    const double row_y = f.y + double(i) * row_h + 6;
    svg.text(f.x - 8, row_y + row_h / 2, bars[i].label, {12, Anchor::kEnd});
    for (size_t c = 0; c < bars[i].values_ns.size(); ++c) {
      const double by = row_y + double(c) * per_bar;
      const double bw = x_of(f, s, bars[i].values_ns[c] * 1e-6) - f.x;
      svg.rect(f.x, by, bw, per_bar - 2, colors[c], bars[i].label + ": " + bars[i].notes[c]);
      svg.text(f.x + bw + 5, by + per_bar - 4, bars[i].notes[c], {11});
    }
  }
  return f.bottom() + 42;
}

// Vertical bars, one group per category, one bar per configuration; a note above each bar.
double draw_vbars(Svg& svg, const Frame& f, const std::vector<Bar>& bars,
                  const std::vector<std::string>& colors, const std::vector<std::string>& under) {
  double max_v = 0;
  for (const Bar& b : bars) {
    for (double v : b.values_ns) max_v = std::max(max_v, v * 1e-6);
  }
  const Scale s = nice_scale(max_v * 1.12, 5);  // headroom for the notes
  draw_y_axis(svg, f, s, "time (ms, sum of op medians)", false);
  svg.line(f.x, f.bottom(), f.right(), f.bottom(), kAxis);
  const double slot = f.w / double(std::max<size_t>(bars.size(), 1));
  const double bar_w = std::min(70.0, slot * 0.8 / double(colors.size()));
  for (size_t i = 0; i < bars.size(); ++i) {
    const double group_x = f.x + double(i) * slot + (slot - bar_w * double(colors.size())) / 2;
    for (size_t c = 0; c < bars[i].values_ns.size(); ++c) {
      const double v = bars[i].values_ns[c] * 1e-6;
      const double bx = group_x + double(c) * bar_w;
      svg.rect(bx + 1, y_of(f, s, v), bar_w - 2, f.bottom() - y_of(f, s, v), colors[c],
               bars[i].label + ": " + bars[i].notes[c]);
      const double size = text_width(bars[i].notes[c], 10) <= bar_w + 4 ? 10 : 8;
      svg.text(bx + bar_w / 2, y_of(f, s, v) - 4, bars[i].notes[c], {size, Anchor::kMiddle});
    }
    const double cx = f.x + (double(i) + 0.5) * slot;
    const bool fits = text_width(bars[i].label, 12) <= slot - 4;
    svg.text(cx, f.bottom() + 16, bars[i].label,
             {12, fits ? Anchor::kMiddle : Anchor::kEnd, false, "#222", fits ? 0.0 : -35.0});
    if (!under.empty()) svg.text(cx, f.bottom() + 31, under[i], {11, Anchor::kMiddle, false, "#444"});
  }
  return f.bottom() + (under.empty() ? 24 : 38);
}

std::vector<Bar> single_bars(const std::vector<TimeShare>& shares, double total, bool two_lines) {
  std::vector<Bar> bars;
  for (const TimeShare& s : shares) {
    const std::string note = two_lines ? ms(s.duration_ns) + " ms"
                                       : detail::concat(ms(s.duration_ns), " ms, ",
                                                        percent(s.duration_ns, total), ", ", s.ops,
                                                        s.ops == 1 ? " op" : " ops");
    bars.push_back({s.key, {s.duration_ns}, {note}});
  }
  return bars;
}

std::vector<TimeShare> sorted_by_time(std::vector<TimeShare> shares) {
  std::stable_sort(shares.begin(), shares.end(), [](const TimeShare& a, const TimeShare& b) {
    return a.duration_ns > b.duration_ns;
  });
  return shares;
}

// The slowest ops as a small table: which bars of panel (a) to look at first.
double draw_slowest_table(Svg& svg, double x, double y, const std::vector<OpRow>& rows, size_t n) {
  const std::vector<OpRow> top = slowest(rows, n);
  svg.text(x + 260, y + 14, detail::concat("Slowest ", top.size(), " ops"), {13, Anchor::kMiddle, true});
  const double columns[] = {x + 36, x + 46, x + 290, x + 420, x + 500};
  const TextStyle head{11, Anchor::kEnd, false, "#666"};
  y += 34;
  svg.text(columns[0], y, "index", head);
  svg.text(columns[1], y, "path", {11, Anchor::kStart, false, "#666"});
  svg.text(columns[2], y, "op", {11, Anchor::kStart, false, "#666"});
  svg.text(columns[3], y, "ms (median)", head);
  svg.text(columns[4], y, "utilisation", head);
  for (const OpRow& r : top) {
    y += 17;
    svg.text(columns[0], y, std::to_string(r.index), {11, Anchor::kEnd});
    svg.text(columns[1], y, r.path, {11});
    svg.text(columns[2], y, r.op, {11});
    svg.text(columns[3], y, ms(double(r.duration_ns)), {11, Anchor::kEnd});
    svg.text(columns[4], y, r.flops > 0 ? format("%.1f%%", r.utilisation) : "-", {11, Anchor::kEnd});
  }
  return y + 12;
}

}  // namespace

double draw_breakdown_panel(Svg& svg, double top, const std::vector<OpRow>& rows,
                            const SheetInfo& info) {
  const double total = total_duration_ns(rows);
  const double y = draw_heading(svg, top, "(b) Where the time goes: " + info.label,
                                "Sum of per-op median durations " + ms(total) +
                                    " ms, by op type and the slowest ops (left), and by module in "
                                    "execution order (right)");
  const std::vector<TimeShare> ops = sorted_by_time(time_by_op(rows));
  double left_bottom =
      draw_hbars(svg, 20, y + 6, 520, "Time by op type", single_bars(ops, total, false), {kColorA});
  left_bottom = draw_slowest_table(svg, 20, left_bottom, rows, 5);
  const std::vector<TimeShare> modules = time_by_module(rows);
  std::vector<std::string> shares;
  for (const TimeShare& m : modules) shares.push_back(percent(m.duration_ns, total));
  svg.text(820, y + 20, "Time by module", {13, Anchor::kMiddle, true});
  const Frame f{640, y + 32, kWidth - 640 - 30, 220};
  const double right_bottom = draw_vbars(svg, f, single_bars(modules, total, true), {kColorA}, shares);
  return std::max(left_bottom, right_bottom);
}

// --- comparisons -------------------------------------------------------------------------------

namespace {

std::string ratio(double b, double a) { return a > 0 ? format("B/A %.2fx", b / a) : "B/A -"; }

std::vector<Bar> paired_bars(const std::vector<TimeShare>& a, const std::vector<TimeShare>& b,
                             bool long_notes) {
  std::vector<std::string> keys;
  for (const auto* shares : {&a, &b}) {
    for (const TimeShare& s : *shares) {
      if (std::find(keys.begin(), keys.end(), s.key) == keys.end()) keys.push_back(s.key);
    }
  }
  auto value = [](const std::vector<TimeShare>& shares, const std::string& key) {
    for (const TimeShare& s : shares) {
      if (s.key == key) return s.duration_ns;
    }
    return 0.0;
  };
  std::vector<Bar> bars;
  for (const std::string& key : keys) {
    const double va = value(a, key), vb = value(b, key);
    const std::string suffix = long_notes ? " ms" : "";
    bars.push_back({key, {va, vb}, {ms(va) + suffix, ms(vb) + suffix + (long_notes ? " (" + ratio(vb, va) + ")" : "")}});
  }
  return bars;
}

struct OpPair {
  const OpRow* a = nullptr;
  const OpRow* b = nullptr;
};

// Ops of A and B matched by module path, op type and occurrence (A's order; B-only ops last).
std::vector<OpPair> pair_ops(const std::vector<OpRow>& a, const std::vector<OpRow>& b) {
  auto keys = [](const std::vector<OpRow>& rows) {
    std::map<std::string, int> seen;
    std::vector<std::string> out;
    for (const OpRow& r : rows) {
      const std::string base = r.path + "|" + r.op;
      out.push_back(base + "|" + std::to_string(seen[base]++));
    }
    return out;
  };
  const std::vector<std::string> ka = keys(a), kb = keys(b);
  std::vector<OpPair> pairs;
  std::vector<bool> used(b.size(), false);
  for (size_t i = 0; i < a.size(); ++i) {
    OpPair p{&a[i], nullptr};
    const auto it = std::find(kb.begin(), kb.end(), ka[i]);
    if (it != kb.end()) p.b = &b[size_t(it - kb.begin())], used[size_t(it - kb.begin())] = true;
    pairs.push_back(p);
  }
  for (size_t j = 0; j < b.size(); ++j) {
    if (!used[j]) pairs.push_back({nullptr, &b[j]});
  }
  return pairs;
}

std::string totals_line(const std::vector<OpRow>& a, const SheetInfo& a_info,
                        const std::vector<OpRow>& b, const SheetInfo& b_info) {
  auto name = [](const SheetInfo& info) {
    return info.description.empty() ? info.label : info.label + " (" + info.description + ")";
  };
  const double ta = total_duration_ns(a), tb = total_duration_ns(b);
  return detail::concat("A = ", name(a_info), ": ", ms(ta), " ms\nB = ", name(b_info), ": ",
                        ms(tb), " ms, ", ratio(tb, ta), " (sums of op medians; below 1: B faster)");
}

std::vector<LegendItem> ab_legend(const SheetInfo& a_info, const SheetInfo& b_info) {
  return {{kColorA, "A: " + a_info.label}, {kColorB, "B: " + b_info.label}};
}

}  // namespace

double draw_compare_modules_panel(Svg& svg, double top, const std::vector<OpRow>& a,
                                  const SheetInfo& a_info, const std::vector<OpRow>& b,
                                  const SheetInfo& b_info) {
  const double y = draw_heading(svg, top, "(c) Configurations side by side, per module",
                                totals_line(a, a_info, b, b_info));
  draw_legend(svg, kWidth - kRight, y + 10, ab_legend(a_info, b_info));
  const std::vector<Bar> bars = paired_bars(time_by_module(a), time_by_module(b), false);
  std::vector<std::string> under;
  for (const Bar& bar : bars) under.push_back(ratio(bar.values_ns[1], bar.values_ns[0]));
  const Frame f{kLeft, y + 24, kWidth - kLeft - kRight, 240};
  return draw_vbars(svg, f, bars, {kColorA, kColorB}, under) + 4;
}

double draw_compare_ops_panel(Svg& svg, double top, const std::vector<OpRow>& a,
                              const SheetInfo& a_info, const std::vector<OpRow>& b,
                              const SheetInfo& b_info) {
  const std::vector<OpPair> pairs = pair_ops(a, b);
  const double y = draw_heading(svg, top, "(c) Configurations side by side, per op",
                                detail::concat(pairs.size(), " ops matched by module path and op "
                                               "type, in A's execution order; A left, B right in each slot"));
  draw_legend(svg, kWidth - kRight, y + 10, ab_legend(a_info, b_info));
  const Frame f{kLeft, y + 24, kWidth - kLeft - kRight, 260};
  if (pairs.empty()) return f.bottom();
  double max_v = std::max(max_duration(a), max_duration(b)) * 1e-6;
  const Scale s = nice_scale(max_v, 6);
  draw_y_axis(svg, f, s, "duration (ms, median)", false);
  const double slot = f.w / double(pairs.size());
  const double bar_w = std::max(0.8, slot * 0.42);
  std::vector<std::string> modules;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const OpRow* rows[2] = {pairs[i].a, pairs[i].b};
    modules.push_back(module_of((rows[0] ? rows[0] : rows[1])->path));
    for (int c = 0; c < 2; ++c) {
      if (!rows[c]) continue;
      const double v = double(rows[c]->duration_ns) * 1e-6;
      const double x = f.x + double(i) * slot + slot * 0.08 + double(c) * bar_w;
      svg.rect(x, y_of(f, s, v), bar_w, f.bottom() - y_of(f, s, v), c ? kColorB : kColorA,
               (c ? "B " : "A ") + op_tooltip(*rows[c]));
    }
  }
  draw_index_ticks(svg, f, pairs.size());
  draw_module_bands(svg, f, modules);
  svg.text(f.x + f.w / 2, f.bottom() + 58, "op index in A's execution order (bands: module)",
           {12, Anchor::kMiddle});
  return f.bottom() + 66;
}

double draw_compare_op_types_panel(Svg& svg, double top, const std::vector<OpRow>& a,
                                   const SheetInfo& a_info, const std::vector<OpRow>& b,
                                   const SheetInfo& b_info) {
  const double y = draw_heading(svg, top, "(c) Configurations side by side, per op type",
                                "Sum of per-op median durations by op type; B/A below 1 means B is faster");
  draw_legend(svg, kWidth - kRight, y + 10, ab_legend(a_info, b_info));
  const std::vector<Bar> bars =
      paired_bars(sorted_by_time(time_by_op(a)), sorted_by_time(time_by_op(b)), true);
  return draw_hbars(svg, kLeft - 70, y + 14, kWidth - kLeft - kRight + 70, "", bars,
                    {kColorA, kColorB});
}

Svg profile_svg(const std::vector<OpRow>& rows, const SheetInfo& info) {
  Svg svg(kWidth, 100);
  double y = draw_per_op_panel(svg, 10, rows, info) + kPanelGap;
  y = draw_breakdown_panel(svg, y, rows, info) + 10;
  svg.set_height(y);
  return svg;
}

Svg compare_svg(const std::vector<OpRow>& a, const SheetInfo& a_info, const std::vector<OpRow>& b,
                const SheetInfo& b_info) {
  Svg svg(kWidth, 100);
  double y = draw_compare_modules_panel(svg, 10, a, a_info, b, b_info) + kPanelGap;
  y = draw_compare_ops_panel(svg, y, a, a_info, b, b_info) + kPanelGap;
  y = draw_compare_op_types_panel(svg, y, a, a_info, b, b_info) + 10;
  svg.set_height(y);
  return svg;
}

}  // namespace yolo4::profile
