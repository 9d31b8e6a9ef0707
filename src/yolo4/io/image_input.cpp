#include "yolo4/io/image_input.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <span>

#include "yolo4/core/error.h"
#include "yolo4/loaders/binary_io.h"

namespace yolo4 {
namespace {

using namespace std::string_view_literals;
using Bytes = std::span<const unsigned char>;

// The header parsers only need the start of the file; JPEG's SOF can follow large EXIF blocks.
constexpr size_t kProbeBytes = size_t{1} << 20;
// An uncompressed 16384 x 16384 RGB BMP is 805 MB; cv::imdecode takes an int size.
constexpr size_t kMaxFileBytes = size_t{1} << 30;

uint32_t be16(Bytes b, size_t at) {
  return (uint32_t{b[at]} << 8) | b[at + 1];
}
uint32_t be32(Bytes b, size_t at) {
  return (be16(b, at) << 16) | be16(b, at + 2);
}
uint32_t le24(Bytes b, size_t at) {
  return load_le<uint16_t>(&b[at]) | (uint32_t{b[at + 2]} << 16);
}

bool starts_with(Bytes b, std::string_view magic, size_t at = 0) {
  if (b.size() < at + magic.size()) return false;
  return std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
}

// Sizes beyond int are clamped so that the max_side check still refuses them.
ImageSize make_size(uint64_t width, uint64_t height) {
  constexpr uint64_t kCap = 1u << 30;
  return {static_cast<int>(std::min(width, kCap)), static_cast<int>(std::min(height, kCap))};
}

[[noreturn]] void fail_cut(const std::string& path, const char* format) {
  fail("image ", path, ": the ", format, " header is cut short (truncated or corrupt file)");
}

bool is_png(Bytes b) {
  return starts_with(b, "\x89PNG\r\n\x1a\n");
}
bool is_jpeg(Bytes b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

std::optional<ImageSize> png_size(Bytes b, const std::string& path) {
  if (b.size() < 24 || !starts_with(b, "IHDR", 12)) fail_cut(path, "PNG");
  return make_size(be32(b, 16), be32(b, 20));
}

bool is_jpeg_sof(uint32_t marker) {
  // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

struct JpegMarker {
  uint32_t marker;
  size_t at;  // offset of the segment's length field
};

// Walks the JPEG marker segments up to the first one for which wanted(marker) holds; nullopt
// when the data ends (or stops looking like markers) first.
template <class Wanted>
std::optional<JpegMarker> find_jpeg_segment(Bytes b, Wanted wanted) {
  size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (b[pos] != 0xFF) return std::nullopt;
    uint32_t marker = b[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // segments without a length
      pos += 2;
      continue;
    }
    if (wanted(marker)) return JpegMarker{marker, pos + 2};
    pos += 2 + be16(b, pos + 2);
  }
  return std::nullopt;
}

constexpr uint32_t kJpegSos = 0xDA;

std::optional<ImageSize> jpeg_size(Bytes b, const std::string& path) {
  auto found = find_jpeg_segment(b, [](uint32_t m) { return is_jpeg_sof(m) || m == kJpegSos; });
  if (!found) {
    if (b.size() < kProbeBytes) fail_cut(path, "JPEG");
    return std::nullopt;  // very large metadata: let the decoder find the size
  }
  if (found->marker == kJpegSos) {
    fail("image ", path, ": JPEG scan before its frame header (corrupt)");
  }
  if (found->at + 7 > b.size()) fail_cut(path, "JPEG");
  return make_size(be16(b, found->at + 5), be16(b, found->at + 3));
}

std::optional<ImageSize> bmp_size(Bytes b, const std::string& path) {
  if (b.size() < 26) fail_cut(path, "BMP");
  if (load_le<uint32_t>(&b[14]) == 12)
    return make_size(load_le<uint16_t>(&b[18]), load_le<uint16_t>(&b[20]));  // OS/2 core header
  auto height = static_cast<int32_t>(load_le<uint32_t>(&b[22]));  // negative for top-down bitmaps
  uint64_t abs_height = height < 0 ? -int64_t{height} : height;
  return make_size(load_le<uint32_t>(&b[18]), abs_height);
}

std::optional<ImageSize> webp_size(Bytes b, const std::string& path) {
  if (b.size() < 30) fail_cut(path, "WebP");
  if (starts_with(b, "VP8 ", 12))
    return make_size(load_le<uint16_t>(&b[26]) & 0x3FFF, load_le<uint16_t>(&b[28]) & 0x3FFF);
  if (starts_with(b, "VP8L", 12)) {
    uint32_t bits = load_le<uint32_t>(&b[21]);
    return make_size((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
  }
  if (starts_with(b, "VP8X", 12)) return make_size(le24(b, 24) + 1, le24(b, 27) + 1);
  return std::nullopt;
}

// PNM headers are ASCII: magic, then width and height separated by whitespace or # comments.
// Read exactly as OpenCV's decoder reads them (a comment ends at CR or LF; the character after
// a number is consumed, even a '#'), so that the size checked is the size it allocates.
std::optional<ImageSize> pnm_size(Bytes b, const std::string& path) {
  size_t pos = 2;
  std::array<uint64_t, 2> values{};
  for (uint64_t& value : values) {
    while (pos < b.size() && !std::isdigit(b[pos])) {
      if (b[pos] == '#') {
        while (pos < b.size() && b[pos] != '\n' && b[pos] != '\r') ++pos;
        ++pos;
      } else if (std::isspace(b[pos])) {
        ++pos;
      } else {
        fail("image ", path, ": PNM header has '", static_cast<char>(b[pos]),
             "' where a number was expected (corrupt file)");
      }
    }
    if (pos >= b.size()) fail_cut(path, "PNM");
    while (pos < b.size() && std::isdigit(b[pos]) && value < (uint64_t{1} << 40)) {
      value = value * 10 + (b[pos++] - '0');
    }
    ++pos;
  }
  return make_size(values[0], values[1]);
}

// A JPEG 2000 codestream's SIZ segment: the image area is [XOsiz, Xsiz) x [YOsiz, Ysiz).
std::optional<ImageSize> j2k_size(Bytes b, size_t at, const std::string& path) {
  if (at + 24 > b.size()) fail_cut(path, "JPEG 2000");
  const uint32_t x_end = be32(b, at + 8), y_end = be32(b, at + 12);
  const uint32_t x_begin = be32(b, at + 16), y_begin = be32(b, at + 20);
  return make_size(x_end > x_begin ? x_end - x_begin : 0, y_end > y_begin ? y_end - y_begin : 0);
}

constexpr std::string_view kJ2kStart = "\xFF\x4F\xFF\x51"sv;  // SOC, then SIZ

// A JP2 file is a list of boxes; the decoder sizes the image from the codestream box (jp2c),
// not from the ihdr box, so the codestream's SIZ is what is read.
std::optional<ImageSize> jp2_size(Bytes b, const std::string& path) {
  size_t pos = 0;
  while (pos + 8 <= b.size()) {
    uint64_t length = be32(b, pos);
    size_t header = 8;
    if (length == 1) {  // a 64-bit length follows the type
      if (pos + 16 > b.size()) break;
      length = (uint64_t{be32(b, pos + 8)} << 32) | be32(b, pos + 12);
      header = 16;
    }
    if (starts_with(b, "jp2c", pos + 4)) {
      if (!starts_with(b, kJ2kStart, pos + header)) return std::nullopt;
      return j2k_size(b, pos + header, path);
    }
    if (length < header || length > b.size() - pos) break;  // 0 ("to the end") or corrupt
    pos += length;
  }
  fail_cut(path, "JPEG 2000");
}

std::optional<ImageSize> tiff_size(Bytes b, const std::string& path) {
  const bool little = b[0] == 'I';
  auto u16 = [&](size_t at) { return little ? load_le<uint16_t>(&b[at]) : be16(b, at); };
  auto u32 = [&](size_t at) { return little ? load_le<uint32_t>(&b[at]) : be32(b, at); };
  size_t ifd = u32(4);
  if (ifd + 2 > b.size()) return std::nullopt;  // IFD at the end of a large file
  uint32_t entries = u16(ifd);
  uint64_t width = 0, height = 0;
  for (uint32_t i = 0; i < entries; ++i) {
    size_t entry = ifd + 2 + 12 * size_t{i};
    if (entry + 12 > b.size()) fail_cut(path, "TIFF");
    uint32_t tag = u16(entry), type = u16(entry + 2);
    uint64_t value = type == 3 ? u16(entry + 8) : u32(entry + 8);  // SHORT or LONG
    if (tag == 256) width = value;
    if (tag == 257) height = value;
  }
  if (width == 0 || height == 0) return std::nullopt;
  return make_size(width, height);
}

std::optional<ImageSize> header_size(Bytes b, const std::string& path) {
  if (is_png(b)) return png_size(b, path);
  if (is_jpeg(b)) return jpeg_size(b, path);
  if (starts_with(b, "BM")) return bmp_size(b, path);
  if (starts_with(b, "GIF87a") || starts_with(b, "GIF89a")) {
    if (b.size() < 10) fail_cut(path, "GIF");
    return make_size(load_le<uint16_t>(&b[6]), load_le<uint16_t>(&b[8]));
  }
  if (starts_with(b, "RIFF") && starts_with(b, "WEBP", 8)) return webp_size(b, path);
  if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(b[2])) {
    return pnm_size(b, path);
  }
  if (b.size() >= 8 && (starts_with(b, "II*\0"sv) || starts_with(b, "MM\0*"sv))) {
    return tiff_size(b, path);
  }
  if (starts_with(b, "\0\0\0\x0CjP  \r\n\x87\n"sv)) return jp2_size(b, path);
  if (starts_with(b, kJ2kStart)) return j2k_size(b, 4, path);
  return std::nullopt;
}

// libjpeg pads a cut JPEG with grey and only warns, so look for the end-of-image marker after the
// first scan: entropy-coded data never contains FF D9 (0xFF data bytes are followed by 00).
bool jpeg_complete(Bytes b) {
  auto scan = find_jpeg_segment(b, [](uint32_t m) { return m == kJpegSos; });
  if (!scan) return false;
  for (size_t i = scan->at; i + 1 < b.size(); ++i) {
    if (b[i] == 0xFF && b[i + 1] == 0xD9) return true;
  }
  return false;
}

// A PNG is complete when its chunk list reaches IEND without running past the end of the file.
bool png_complete(Bytes b) {
  size_t pos = 8;
  while (pos + 12 <= b.size()) {
    size_t next = pos + 12 + be32(b, pos);
    if (next > b.size()) return false;
    if (starts_with(b, "IEND", pos + 4)) return true;
    pos = next;
  }
  return false;
}

void check_complete(Bytes b, const std::string& path) {
  if (is_jpeg(b) && !jpeg_complete(b)) {
    fail("image ", path, ": truncated JPEG (no end-of-image marker after the image data)");
  }
  if (is_png(b) && !png_complete(b)) {
    fail("image ", path, ": truncated PNG (the chunks stop before IEND)");
  }
}

void check_size(ImageSize size, const std::string& path, int max_side, int64_t max_pixels,
                const char* source) {
  YOLO4_CHECK(size.width > 0 && size.height > 0, "image ", path, ": ", source, " ", size.width, "x",
              size.height, " pixels, expected a positive width and height");
  YOLO4_CHECK(size.width <= max_side && size.height <= max_side, "image ", path, ": ", source, " ",
              size.width, "x", size.height, " pixels, larger than the maximum ", max_side, "x",
              max_side, "; downscale it first");
  const int64_t pixels = int64_t{size.width} * size.height;
  YOLO4_CHECK(pixels <= max_pixels, "image ", path, ": ", source, " ", size.width, "x", size.height,
              " = ", pixels, " pixels, more than the limit of ", max_pixels,
              " pixels; downscale it first");
}

// Reads the first max_bytes of the file, or all of it when max_bytes is 0; files too large for
// any accepted image (and for cv::imdecode's int sizes) are refused before reading.
std::vector<unsigned char> read_image_bytes(const std::string& path, size_t max_bytes) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    fail("image ", path, ": is a directory, expected an image file");
  }
  const uint64_t size = std::filesystem::file_size(path, error);
  if (error) fail("image ", path, ": cannot open (", error.message(), ")");
  YOLO4_CHECK(max_bytes > 0 || size <= kMaxFileBytes, "image ", path, ": the file has ", size,
              " bytes, more than the ", kMaxFileBytes, " any accepted image needs");
  return read_file(path, max_bytes);
}

cv::Mat decode(Bytes bytes, const std::string& path) {
  const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8U,
                        const_cast<unsigned char*>(bytes.data()));
  cv::Mat image;
  try {
    image = cv::imdecode(encoded, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    fail("image ", path, ": OpenCV could not decode it: ", e.what());
  }
  YOLO4_CHECK(!image.empty(), "image ", path,
              ": not an image OpenCV can decode (expected JPEG, PNG, BMP, WebP, TIFF, PNM, ...) "
              "or a corrupt one");
  return image;
}

cv::Mat to_rgb(const cv::Mat& image, const std::string& name) {
  YOLO4_CHECK(!image.empty(), "image ", name, ": no pixels, expected a decoded image");
  YOLO4_CHECK(image.depth() == CV_8U, "image ", name, ": expected 8-bit pixels, got ",
              cv::typeToString(image.type()));
  cv::Mat rgb;
  switch (image.channels()) {
    case 1:
      cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB);
      break;
    case 3:
      cv::cvtColor(image, rgb, cv::COLOR_BGR2RGB);
      break;
    case 4:
      cv::cvtColor(image, rgb, cv::COLOR_BGRA2RGB);
      break;
    default:
      fail("image ", name, ": expected 1, 3 or 4 channels, got ", image.channels());
  }
  return rgb;
}

// Darknet's letter_box_image geometry, integer arithmetic included: the longer side (relative to
// the network) fills the network input.
cv::Size letterbox_content(int width, int height, int net_width, int net_height) {
  int64_t new_w = net_width, new_h = net_height;
  if (static_cast<float>(net_width) / width < static_cast<float>(net_height) / height) {
    new_h = int64_t{height} * net_width / width;
  } else {
    new_w = int64_t{width} * net_height / height;
  }
  return {static_cast<int>(std::max<int64_t>(new_w, 1)),
          static_cast<int>(std::max<int64_t>(new_h, 1))};
}

// Byte -> [0,1] as value / 255 in float, the same rounding as numpy's uint8 -> float32 / 255.
const std::array<float, 256>& unit_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = static_cast<float>(v) / 255.0f;
    return t;
  }();
  return table;
}

}  // namespace

ImageTransform make_image_transform(int width, int height, int net_width, int net_height,
                                    ResizeMode mode) {
  YOLO4_CHECK(width > 0 && height > 0, "image size ", width, "x", height,
              ": expected a positive width and height");
  YOLO4_CHECK(net_width > 0 && net_height > 0, "network input size ", net_width, "x", net_height,
              ": expected a positive width and height");
  ImageTransform t;
  t.image_width = width;
  t.image_height = height;
  t.net_width = net_width;
  t.net_height = net_height;
  cv::Size content(net_width, net_height);
  if (mode == ResizeMode::kLetterbox) {
    content = letterbox_content(width, height, net_width, net_height);
  }
  t.scale_x = static_cast<float>(content.width) / static_cast<float>(width);
  t.scale_y = static_cast<float>(content.height) / static_cast<float>(height);
  t.offset_x = static_cast<float>((net_width - content.width) / 2);
  t.offset_y = static_cast<float>((net_height - content.height) / 2);
  return t;
}

std::optional<ImageSize> probe_image_size(const std::string& path) {
  const auto bytes = read_image_bytes(path, kProbeBytes);
  YOLO4_CHECK(!bytes.empty(), "image ", path, ": the file is empty (0 bytes), expected an image");
  return header_size(bytes, path);
}

cv::Mat decode_image(std::span<const unsigned char> bytes, const std::string& name, int max_side,
                     int64_t max_pixels) {
  YOLO4_CHECK(!bytes.empty(), "image ", name, ": empty (0 bytes), expected an image");
  YOLO4_CHECK(bytes.size() <= kMaxFileBytes, "image ", name, ": ", bytes.size(),
              " bytes, more than the ", kMaxFileBytes, " any accepted image needs");
  // The whole file is searched (a JPEG's frame header may follow megabytes of metadata), and a
  // file whose size the header does not give is not handed to a decoder that would believe it.
  const std::optional<ImageSize> size = header_size(bytes, name);
  YOLO4_CHECK(size, "image ", name,
              ": not an image format yolo4 reads (expected JPEG, PNG, BMP, WebP, TIFF, PNM or "
              "JPEG 2000), or its header does not give the image size");
  check_size(*size, name, max_side, max_pixels, "its header says");
  check_complete(bytes, name);
  cv::Mat image = decode(bytes, name);
  check_size({image.cols, image.rows}, name, max_side, max_pixels, "decoded to");
  return image;
}

cv::Mat read_image(const std::string& path, int max_side, int64_t max_pixels) {
  const auto bytes = read_image_bytes(path, 0);
  YOLO4_CHECK(!bytes.empty(), "image ", path, ": the file is empty (0 bytes), expected an image");
  return decode_image(bytes, path, max_side, max_pixels);
}

NetworkInput make_network_input(const cv::Mat& bgr, int net_width, int net_height, ResizeMode mode,
                                const std::string& name) {
  const cv::Mat rgb = to_rgb(bgr, name);
  NetworkInput input;
  input.transform = make_image_transform(rgb.cols, rgb.rows, net_width, net_height, mode);
  const ImageTransform& t = input.transform;
  const cv::Size content(static_cast<int>(std::lround(t.scale_x * rgb.cols)),
                         static_cast<int>(std::lround(t.scale_y * rgb.rows)));
  cv::Mat resized;
  cv::resize(rgb, resized, content, 0, 0, cv::INTER_LINEAR);

  const float pad = mode == ResizeMode::kLetterbox ? 0.5f : 0.0f;
  input.data.assign(size_t{3} * net_width * net_height, pad);
  const auto& unit = unit_table();
  const auto ox = static_cast<size_t>(t.offset_x), oy = static_cast<size_t>(t.offset_y);
  for (int y = 0; y < content.height; ++y) {
    const unsigned char* src = resized.ptr<unsigned char>(y);
    float* dst = input.data.data() + ((oy + y) * net_width + ox) * 3;
    for (int i = 0; i < content.width * 3; ++i) dst[i] = unit[src[i]];
  }
  return input;
}

NetworkInput load_network_input(const std::string& path, int net_width, int net_height,
                                ResizeMode mode) {
  return make_network_input(read_image(path), net_width, net_height, mode, path);
}

}  // namespace yolo4
