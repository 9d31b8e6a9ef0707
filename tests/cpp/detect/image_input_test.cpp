// Image decoding and network input: agreement with cv2 in Python, letterbox geometry, header
// probing, and clear errors for files that are not usable images.
#include "yolo4/io/image_input.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <span>
#include <string>
#include <vector>

#include "detect/detect_test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/loaders/npy.h"

namespace yolo4 {
namespace {

std::string sample_image(const std::string& name) {
  const std::string path = test::shared_data_dir() + "/images/" + name;
  if (!std::filesystem::exists(path)) throw std::runtime_error("sample image missing: " + path);
  return path;
}

// Runs f and returns the yolo4::Error message it throws ("" and a test failure otherwise).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a yolo4::Error";
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << text << "' lacks '" << part << "'";
}

// ---------------------------------------------------------------------------------------------
// Against cv2 in Python.

void expect_matches_python(const std::string& image, ResizeMode mode, int net_w, int net_h) {
  const test::TempDir dir;
  const std::string out = dir.file("input.npy");
  const std::string args = "preprocess --image " + test::shell_quote(image) + " --net " +
                           std::to_string(net_w) + " " + std::to_string(net_h) + " --mode " +
                           (mode == ResizeMode::kPlain ? "plain" : "letterbox") + " --out " +
                           test::shell_quote(out);
  const std::string error = test::run_reference(args, dir.file("log.txt"));
  ASSERT_TRUE(error.empty()) << error;
  const HostArray expected = read_npy(out);
  ASSERT_EQ(expected.shape, (std::vector<int64_t>{1, net_h, net_w, 3}));

  const NetworkInput input = load_network_input(image, net_w, net_h, mode);
  ASSERT_EQ(input.data.size(), expected.data.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < input.data.size(); ++i) {
    if (std::fabs(input.data[i] - expected.data[i]) > 1e-6f && mismatches++ < 5) {
      ADD_FAILURE() << image << " element " << i << ": " << input.data[i] << " vs "
                    << expected.data[i];
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(ImageInput, PlainResizeMatchesCv2) {
  expect_matches_python(sample_image("dog.jpg"), ResizeMode::kPlain, 320, 320);
  expect_matches_python(sample_image("person.jpg"), ResizeMode::kPlain, 416, 256);
}

TEST(ImageInput, LetterboxMatchesTheReference) {
  expect_matches_python(sample_image("kite.jpg"), ResizeMode::kLetterbox, 320, 320);
  expect_matches_python(sample_image("giraffe.jpg"), ResizeMode::kLetterbox, 416, 320);
}

// ---------------------------------------------------------------------------------------------
// Geometry.

TEST(ImageInput, LetterboxGeometryFollowsDarknet) {
  // 768 x 576 into 320: width limits, content 320 x 240, 40 rows of padding above and below.
  const ImageTransform t = make_image_transform(768, 576, 320, 320, ResizeMode::kLetterbox);
  EXPECT_FLOAT_EQ(t.scale_x, 320.0f / 768);
  EXPECT_FLOAT_EQ(t.scale_y, 240.0f / 576);
  EXPECT_FLOAT_EQ(t.offset_x, 0);
  EXPECT_FLOAT_EQ(t.offset_y, 40);
  EXPECT_FLOAT_EQ(t.to_image_x(160), 384);
  EXPECT_FLOAT_EQ(t.to_image_y(40), 0);
  EXPECT_FLOAT_EQ(t.to_image_y(280), 576);
  // Portrait 500 x 900 into 416: height limits, content 231 x 416 (darknet's integer division).
  const ImageTransform p = make_image_transform(500, 900, 416, 416, ResizeMode::kLetterbox);
  EXPECT_FLOAT_EQ(p.scale_x, 231.0f / 500);
  EXPECT_FLOAT_EQ(p.offset_x, 92);
  EXPECT_FLOAT_EQ(p.offset_y, 0);
  // Plain: independent scales, no offset.
  const ImageTransform plain = make_image_transform(640, 480, 320, 320, ResizeMode::kPlain);
  EXPECT_FLOAT_EQ(plain.scale_x, 0.5f);
  EXPECT_FLOAT_EQ(plain.scale_y, 320.0f / 480);
  EXPECT_FLOAT_EQ(plain.offset_x + plain.offset_y, 0);
}

TEST(ImageInput, LetterboxPadsWithGreyAndKeepsContent) {
  cv::Mat white(576, 768, CV_8UC3, cv::Scalar(255, 255, 255));
  const NetworkInput input = make_network_input(white, 320, 320, ResizeMode::kLetterbox, "white");
  auto at = [&](int y, int x, int c) {
    return input.data[(static_cast<size_t>(y) * 320 + x) * 3 + c];
  };
  EXPECT_FLOAT_EQ(at(0, 0, 0), 0.5f);
  EXPECT_FLOAT_EQ(at(39, 319, 2), 0.5f);
  EXPECT_FLOAT_EQ(at(40, 0, 0), 1.0f);
  EXPECT_FLOAT_EQ(at(279, 319, 1), 1.0f);
  EXPECT_FLOAT_EQ(at(280, 0, 0), 0.5f);
}

TEST(ImageInput, ConvertsBgrToRgbAndAcceptsGrayAndBgra) {
  cv::Mat blue(10, 10, CV_8UC3, cv::Scalar(255, 0, 0));  // BGR
  NetworkInput input = make_network_input(blue, 4, 4, ResizeMode::kPlain, "blue");
  EXPECT_FLOAT_EQ(input.data[0], 0.0f);
  EXPECT_FLOAT_EQ(input.data[2], 1.0f);
  cv::Mat gray(10, 10, CV_8UC1, cv::Scalar(51));
  input = make_network_input(gray, 4, 4, ResizeMode::kPlain, "gray");
  EXPECT_FLOAT_EQ(input.data[1], 51.0f / 255.0f);
  cv::Mat bgra(10, 10, CV_8UC4, cv::Scalar(0, 0, 255, 7));
  input = make_network_input(bgra, 4, 4, ResizeMode::kPlain, "bgra");
  EXPECT_FLOAT_EQ(input.data[0], 1.0f);
  EXPECT_EQ(input.data.size(), 48u);
  cv::Mat floats(10, 10, CV_32FC3);
  expect_contains(error_of([&] { make_network_input(floats, 4, 4, ResizeMode::kPlain, "f.exr"); }),
                  "f.exr");
}

// ---------------------------------------------------------------------------------------------
// Header probing.

TEST(ImageInput, ProbesTheHeaderSizeOfCommonFormats) {
  const test::TempDir dir;
  cv::Mat image(37, 53, CV_8UC3, cv::Scalar(10, 200, 30));
  for (const std::string ext : {".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm", ".pgm", ".jp2"}) {
    std::vector<unsigned char> encoded;
    cv::Mat gray;
    cv::extractChannel(image, gray, 1);
    // A format this OpenCV was built without is skipped.
    if (!cv::imencode(ext, ext == ".pgm" ? gray : image, encoded)) continue;
    const std::string path = dir.file("probe" + ext);
    test::write_bytes(path, std::string(encoded.begin(), encoded.end()));
    const auto size = probe_image_size(path);
    ASSERT_TRUE(size.has_value()) << ext;
    EXPECT_EQ(size->width, 53) << ext;
    EXPECT_EQ(size->height, 37) << ext;
    const cv::Mat decoded = read_image(path);
    EXPECT_EQ(decoded.cols, 53) << ext;
  }
}

TEST(ImageInput, ProbesTheSampleJpegs) {
  const auto size = probe_image_size(sample_image("dog.jpg"));
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(size->width, 768);
  EXPECT_EQ(size->height, 576);
}

// ---------------------------------------------------------------------------------------------
// Errors.

std::string big_endian(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  const auto crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  return big_endian(static_cast<uint32_t>(data.size())) + body + big_endian(crc);
}

// A tiny, well-formed PNG that claims width x height 8-bit RGB pixels.
std::string png_claiming(uint32_t width, uint32_t height) {
  const std::string ihdr =
      big_endian(width) + big_endian(height) + std::string("\x08\x02\0\0\0", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IEND", "");
}

TEST(ImageInputErrors, MissingFileAndDirectory) {
  const test::TempDir dir;
  const std::string missing = dir.file("missing.jpg");
  const std::string message = error_of([&] { read_image(missing); });
  expect_contains(message, missing);
  expect_contains(message, "No such file");
  expect_contains(error_of([&] { read_image(dir.path()); }), "is a directory");
}

TEST(ImageInputErrors, EmptyFile) {
  const test::TempDir dir;
  const std::string path = dir.file("empty.jpg");
  test::write_bytes(path, "");
  const std::string message = error_of([&] { read_image(path); });
  expect_contains(message, path);
  expect_contains(message, "empty");
}

TEST(ImageInputErrors, NotAnImage) {
  const test::TempDir dir;
  const std::string path = dir.file("notes.jpg");
  test::write_bytes(path, "these are not the pixels you are looking for\n");
  const std::string message = error_of([&] { read_image(path); });
  expect_contains(message, path);
  expect_contains(message, "not an image");
}

TEST(ImageInputErrors, TruncatedJpeg) {
  const test::TempDir dir;
  const std::string path = dir.file("cut.jpg");
  test::write_bytes(path, test::read_bytes(sample_image("dog.jpg")).substr(0, 1000));
  const std::string message = error_of([&] { read_image(path); });
  expect_contains(message, path);
  expect_contains(message, "truncated");
  // Cut inside the image data, well after the headers.
  const std::string whole = test::read_bytes(sample_image("dog.jpg"));
  test::write_bytes(path, whole.substr(0, whole.size() / 2));
  expect_contains(error_of([&] { read_image(path); }), "truncated JPEG");
}

TEST(ImageInputErrors, TruncatedPng) {
  const test::TempDir dir;
  std::vector<unsigned char> encoded;
  cv::Mat noise(64, 64, CV_8UC3);
  cv::randu(noise, 0, 255);
  ASSERT_TRUE(cv::imencode(".png", noise, encoded));
  const std::string path = dir.file("cut.png");
  test::write_bytes(path, std::string(encoded.begin(), encoded.begin() + encoded.size() / 2));
  expect_contains(error_of([&] { read_image(path); }), "truncated PNG");
}

TEST(ImageInputErrors, HugeImageIsRefusedFromItsHeader) {
  const test::TempDir dir;
  const std::string path = dir.file("huge.png");
  test::write_bytes(path, png_claiming(20000, 20000));
  EXPECT_LT(std::filesystem::file_size(path), 100u);
  const auto size = probe_image_size(path);
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(size->width, 20000);
  const std::string message = error_of([&] { read_image(path); });
  expect_contains(message, path);
  expect_contains(message, "20000x20000");
  expect_contains(message, "16384");
  // A header within the limit is accepted up to the (missing) pixel data.
  test::write_bytes(path, png_claiming(0, 10));
  expect_contains(error_of([&] { read_image(path); }), "positive width and height");
}

// 50000x50000 8-bit RGB would be 7.5 GB decoded; the header alone refuses it, whether the side
// or the pixel limit is the one exceeded.
TEST(ImageInputErrors, PixelLimitIsCheckedFromTheHeader) {
  const test::TempDir dir;
  const std::string path = dir.file("huge.png");
  test::write_bytes(path, png_claiming(50000, 50000));
  expect_contains(error_of([&] { read_image(path); }), "50000x50000");
  const std::string message = error_of([&] { read_image(path, 50000); });
  expect_contains(message, path);
  expect_contains(message, "its header says 50000x50000 = 2500000000 pixels");
  expect_contains(message, "more than the limit of 100000000 pixels");
  // Within the side limit, over the default 100 megapixels.
  test::write_bytes(path, png_claiming(12000, 12000));
  expect_contains(error_of([&] { read_image(path); }), "144000000 pixels, more than the limit");
  // A BMP header claiming the same (54 bytes, no pixel data).
  const std::string bmp_path = dir.file("huge.bmp");
  std::string bmp = "BM" + std::string(12, '\0');
  for (const uint32_t field : {40u, 12000u, 12000u}) {
    for (int i = 0; i < 4; ++i) bmp += static_cast<char>(field >> (8 * i));
  }
  bmp += std::string(54 - bmp.size(), '\0');
  test::write_bytes(bmp_path, bmp);
  expect_contains(error_of([&] { read_image(bmp_path); }), "12000x12000 = 144000000 pixels");
}

// Found by fuzz_image_decode: after a number OpenCV's PNM reader consumes one character even
// when it starts a comment, so "2551# 11..." is followed by the height 112551, a 861 MB
// allocation the probe (which skipped the comment) did not see.
TEST(ImageInputErrors, FuzzFindingPnmNumberThenComment) {
  const std::string path =
      std::string(YOLO4_SOURCE_DIR) + "/tests/data/fuzz/image_decode/pnm_number_then_comment.ppm";
  const auto size = probe_image_size(path);
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(size->width, 2551);
  EXPECT_EQ(size->height, 112551);
  expect_contains(error_of([&] { read_image(path, 4096, 4'000'000); }), "2551x112551");
}

// A JPEG 2000 decoder sizes the image from the codestream, so that is where the limit looks.
TEST(ImageInputErrors, Jpeg2000SizeIsCheckedFromTheCodestream) {
  std::vector<unsigned char> encoded;
  if (!cv::imencode(".jp2", cv::Mat(37, 53, CV_8UC3, cv::Scalar(1, 2, 3)), encoded)) {
    GTEST_SKIP() << "OpenCV without JPEG 2000";
  }
  std::string bytes(encoded.begin(), encoded.end());
  const size_t siz = bytes.find("\xFF\x4F\xFF\x51");
  ASSERT_NE(siz, std::string::npos);
  bytes.replace(siz + 8, 8, big_endian(50000) + big_endian(50000));  // Xsiz, Ysiz
  const test::TempDir dir;
  const std::string path = dir.file("huge.jp2");
  test::write_bytes(path, bytes);
  expect_contains(error_of([&] { read_image(path, 50000); }), "50000x50000 = 2500000000 pixels");
}

// Formats OpenCV decodes but whose size the header probes do not read are not decoded at all.
TEST(ImageInputErrors, FormatsWithoutAProbedSizeAreRefused) {
  std::vector<unsigned char> encoded;
  ASSERT_TRUE(cv::imencode(".pam", cv::Mat(4, 5, CV_8UC3, cv::Scalar(1, 2, 3)), encoded));
  ASSERT_FALSE(cv::imdecode(encoded, cv::IMREAD_COLOR).empty());  // OpenCV itself reads it
  const test::TempDir dir;
  const std::string path = dir.file("image.pam");
  test::write_bytes(path, std::string(encoded.begin(), encoded.end()));
  expect_contains(error_of([&] { read_image(path); }), "not an image format yolo4 reads");
}

TEST(ImageInputErrors, PixelLimitIsConfigurable) {
  const std::string dog = sample_image("dog.jpg");
  const std::string message = error_of([&] { read_image(dog, kMaxImageSide, 768 * 576 - 1); });
  expect_contains(message, "768x576 = 442368 pixels, more than the limit of 442367");
  EXPECT_EQ(read_image(dog, kMaxImageSide, 768 * 576).rows, 576);
}

// Encoded bytes in memory go through the same checks as files; the name stands for the file.
TEST(ImageInput, DecodesBytesLikeTheFile) {
  const std::string dog = sample_image("dog.jpg");
  const std::string whole = test::read_bytes(dog);
  const std::vector<unsigned char> bytes(whole.begin(), whole.end());
  const cv::Mat from_file = read_image(dog);
  const cv::Mat from_bytes = decode_image(bytes, "upload");
  ASSERT_EQ(from_bytes.size(), from_file.size());
  EXPECT_EQ(cv::norm(from_bytes, from_file, cv::NORM_INF), 0);

  const std::span<const unsigned char> all(bytes);
  expect_contains(error_of([&] { decode_image(all.first(all.size() / 2), "upload"); }),
                  "image upload: truncated JPEG");
  expect_contains(error_of([&] { decode_image({}, "upload"); }), "image upload: empty (0 bytes)");
  const std::string text = "not an image";
  const std::vector<unsigned char> junk(text.begin(), text.end());
  expect_contains(error_of([&] { decode_image(junk, "upload"); }), "not an image");
  const std::string huge = png_claiming(20000, 20000);
  const std::vector<unsigned char> huge_bytes(huge.begin(), huge.end());
  expect_contains(error_of([&] { decode_image(huge_bytes, "upload"); }), "20000x20000");
}

TEST(ImageInputErrors, MaxSideIsConfigurable) {
  const std::string dog = sample_image("dog.jpg");
  expect_contains(error_of([&] { read_image(dog, 700); }), "768x576");
  EXPECT_EQ(read_image(dog, 768).cols, 768);
}

}  // namespace
}  // namespace yolo4
