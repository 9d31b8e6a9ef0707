// Plots of the perf sheet as one SVG document with panels stacked vertically:
//   profile: (a) per-op duration bars in execution order, utilisation dots, cores by colour;
//            (b) time by op type and time by module.
//   compare: (c) two configurations side by side per module and per op, and by op type.
#pragma once

#include <string>
#include <vector>

#include "yolo4/profile/profiler.h"
#include "yolo4/profile/svg.h"

namespace yolo4::profile {

struct SheetInfo {
  std::string label;  // e.g. "float32/float32/HiFi4" or a CSV file name
  std::string description;  // one line under the title, e.g. "YOLOv4 320x320, 2 cores, ..."
  int grid_cores = 0;  // 0: the largest core count in the sheet
};

Svg profile_svg(const std::vector<OpRow>& rows, const SheetInfo& info);
Svg compare_svg(const std::vector<OpRow>& a, const SheetInfo& a_info,
                const std::vector<OpRow>& b, const SheetInfo& b_info);

// Panels, for composing other documents: each draws below `top` and returns its bottom.
double draw_per_op_panel(Svg& svg, double top, const std::vector<OpRow>& rows,
                         const SheetInfo& info);
double draw_breakdown_panel(Svg& svg, double top, const std::vector<OpRow>& rows,
                            const SheetInfo& info);
double draw_compare_modules_panel(Svg& svg, double top, const std::vector<OpRow>& a,
                                  const SheetInfo& a_info, const std::vector<OpRow>& b,
                                  const SheetInfo& b_info);
double draw_compare_ops_panel(Svg& svg, double top, const std::vector<OpRow>& a,
                              const SheetInfo& a_info, const std::vector<OpRow>& b,
                              const SheetInfo& b_info);
double draw_compare_op_types_panel(Svg& svg, double top, const std::vector<OpRow>& a,
                                   const SheetInfo& a_info, const std::vector<OpRow>& b,
                                   const SheetInfo& b_info);

}  // namespace yolo4::profile
