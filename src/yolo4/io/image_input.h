// Turns an image file (or a decoded frame) into the network input and remembers how to map
// network pixels back to the original image.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace yolo4 {

// Largest accepted width or height, and largest accepted width x height (100 megapixels, 300 MB
// decoded): bigger images are refused from their header before decoding, so that a small file
// claiming 50000x50000 pixels does not allocate gigabytes.
inline constexpr int kMaxImageSide = 16384;
inline constexpr int64_t kMaxImagePixels = 100'000'000;

enum class ResizeMode {
  kPlain,      // stretch to the network size (cv::resize INTER_LINEAR), like the PyTorch reference
  kLetterbox,  // keep the aspect ratio, centre, pad with 0.5 grey, like darknet's letter_box
};

// Maps network-input pixels to original-image pixels: image = (net - offset) / scale, per axis.
struct ImageTransform {
  int image_width = 0, image_height = 0;
  int net_width = 0, net_height = 0;
  float scale_x = 1, scale_y = 1;
  float offset_x = 0, offset_y = 0;

  float to_image_x(float net_x) const { return (net_x - offset_x) / scale_x; }
  float to_image_y(float net_y) const { return (net_y - offset_y) / scale_y; }
};

// The geometry of resizing a width x height image to net_width x net_height.
ImageTransform make_image_transform(int width, int height, int net_width, int net_height,
                                    ResizeMode mode);

// Float NHWC (1, net_height, net_width, 3) RGB in [0, 1].
struct NetworkInput {
  std::vector<float> data;
  ImageTransform transform;
};

struct ImageSize {
  int width = 0, height = 0;
};

// The size written in the file header of a PNG, JPEG, BMP, GIF, WebP, PNM, TIFF or JPEG 2000
// file, without
// decoding the pixels; nullopt for other formats. Throws when the header is recognised but cut.
std::optional<ImageSize> probe_image_size(const std::string& path);

// Decodes an encoded image held in memory (e.g. a request body) with read_image's checks and
// limits; name is used in error messages.
cv::Mat decode_image(std::span<const unsigned char> bytes, const std::string& name,
                     int max_side = kMaxImageSide, int64_t max_pixels = kMaxImagePixels);

// Decodes an image file to 8-bit BGR. Throws yolo4::Error naming the file when it cannot be read,
// is empty, is not an image, is truncated, is larger than max_side in either dimension, or has
// more than max_pixels pixels. The limits are checked from the header before decoding (only
// formats whose header probe_image_size reads are decoded), and again after decoding.
cv::Mat read_image(const std::string& path, int max_side = kMaxImageSide,
                   int64_t max_pixels = kMaxImagePixels);

// Converts a decoded 8-bit BGR image (a file or a video frame) to the network input; name is
// used in error messages.
NetworkInput make_network_input(const cv::Mat& bgr, int net_width, int net_height, ResizeMode mode,
                                const std::string& name);

// read_image + make_network_input.
NetworkInput load_network_input(const std::string& path, int net_width, int net_height,
                                ResizeMode mode);

}  // namespace yolo4
