#include "yolo4/model/yolov4.h"

#include "yolo4/core/error.h"

namespace yolo4 {

Yolov4::Yolov4(const Yolov4Weights& weights, const ModelOptions& options)
    : options_(options),
      down1_(weights, options),
      neck_(weights, options),
      head_(weights, options) {
  for (int stage = 2; stage <= 5; ++stage) downs_.emplace_back(weights, stage, options);
}

void Yolov4::validate_input(const Shape& s) {
  YOLO4_CHECK(s.n >= 1 && s.c == 3, "YOLOv4 input ", to_string(s),
              ": expected N x H x W x 3 (RGB)");
  YOLO4_CHECK(s.h >= 32 && s.w >= 32 && s.h % 32 == 0 && s.w % 32 == 0, "YOLOv4 input ",
              to_string(s), ": H and W must be positive multiples of 32");
}

std::array<Tensor, 3> Yolov4::operator()(Device& device, const Tensor& input) const {
  validate_device_isa(device, isa(), "YOLOv4");
  validate_input(input.shape());
  Tensor d1 = down1_(device, input);
  Tensor d2 = down(2)(device, d1);
  deallocate(d1);
  Tensor d3 = down(3)(device, d2);
  deallocate(d2);
  Tensor d4 = down(4)(device, d3);
  Tensor d5 = down(5)(device, d4);
  auto [x20, x13, x6] = neck_(device, d5, d4, d3);
  deallocate(d5);
  deallocate(d4);
  deallocate(d3);
  std::array<Tensor, 3> heads = head_(device, x20, x13, x6);
  deallocate(x20);
  deallocate(x13);
  deallocate(x6);
  return heads;
}

int Yolov4::output_stride(std::string_view key) {
  auto number_after = [&](std::string_view prefix) {
    return std::stoi(std::string(key.substr(prefix.size())));
  };
  if (key == "down1.conv1") return 1;
  if (key.substr(0, 4) == "down") return 1 << (key[4] - '0');
  if (key.substr(0, 9) == "neek.conv") {
    const int i = number_after("neek.conv");
    return i <= 7 ? 32 : i <= 14 ? 16 : 8;
  }
  if (key.substr(0, 9) == "head.conv") {
    const int i = number_after("head.conv");
    return i <= 2 ? 8 : i <= 10 ? 16 : 32;
  }
  fail("no YOLOv4 conv is named '", key, "'");
}

double Yolov4::flops(const Shape& input) {
  validate_input(input);
  double total = 0;
  for (const ConvSpec& s : yolov4_convs()) {
    const int stride = output_stride(s.key);
    total += 2.0 * input.n * (input.h / stride) * (input.w / stride) * s.out_channels *
             s.in_channels * s.kernel * s.kernel;
  }
  return total;
}

std::vector<const ConvBlock*> Yolov4::convs() const {
  std::vector<const ConvBlock*> all = down1_.convs();
  for (const Downsample& d : downs_) {
    for (const ConvBlock* c : d.convs()) all.push_back(c);
  }
  for (const ConvBlock* c : neck_.convs()) all.push_back(c);
  for (const ConvBlock* c : head_.convs()) all.push_back(c);
  return all;
}

size_t Yolov4::weight_bytes() const {
  size_t total = 0;
  for (const ConvBlock* c : convs()) total += c->conv().weight_bytes();
  return total;
}

}  // namespace yolo4
