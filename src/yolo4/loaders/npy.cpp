#include "yolo4/loaders/npy.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <string_view>

#include "yolo4/core/error.h"
#include "yolo4/loaders/binary_io.h"

namespace yolo4 {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
// NumPy pads the header so the data starts on this boundary (keeps mmap'ed arrays aligned).
constexpr size_t kHeaderAlignment = 64;

// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// Only the three keys NumPy writes are understood, so this is a scanner for that grammar.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  struct Fields {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<int64_t>> shape;
  };

  Fields parse() {
    Fields fields;
    expect('{');
    while (!accept('}')) {
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        fields.descr = quoted();
      } else if (key == "fortran_order") {
        fields.fortran_order = boolean();
      } else if (key == "shape") {
        fields.shape = tuple();
      } else {
        fail_here("unknown header key '" + key + "'");
      }
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    return fields;
  }

 private:
  [[noreturn]] void fail_here(const std::string& what) {
    fail(path_, ": bad .npy header: ", what, " at column ", pos_, " of \"", text_, "\"");
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail_here(std::string("expected '") + c + "'");
  }
  std::string quoted() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      fail_here("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) fail_here("unterminated string");
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.substr(pos_).starts_with(word)) {
        pos_ += std::string_view(word).size();
        return value;
      }
    }
    fail_here("expected True or False");
  }
  int64_t integer() {
    skip_space();
    int64_t value = 0;
    const size_t start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      value = value * 10 + (text_[pos_++] - '0');
      if (value > (int64_t{1} << 48)) fail_here("dimension too large");
    }
    if (pos_ == start) fail_here("expected a non-negative integer");
    return value;
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    expect('(');
    while (!accept(')')) {
      dims.push_back(integer());
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }

  std::string_view text_;
  const std::string& path_;
  size_t pos_ = 0;
};

size_t element_count(std::span<const int64_t> shape, const std::string& path) {
  size_t count = 1;
  for (const int64_t dim : shape) {
    YOLO4_CHECK(dim >= 0, path, ": negative dimension ", dim, " in shape");
    YOLO4_CHECK(dim == 0 || count <= (size_t{1} << 48) / static_cast<size_t>(dim), path,
                ": shape has too many elements");
    count *= static_cast<size_t>(dim);
  }
  return count;
}

std::string shape_literal(std::span<const int64_t> shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

HostArray read_npy(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  ByteCursor cursor(bytes, path);
  YOLO4_CHECK(bytes.size() >= kMagic.size() && cursor.take_string(kMagic.size()) == kMagic, path,
              ": not a .npy file (expected magic \\x93NUMPY)");
  const auto major = cursor.read<uint8_t>();
  const auto minor = cursor.read<uint8_t>();
  YOLO4_CHECK((major == 1 || major == 2) && minor == 0, path, ": unsupported .npy version ",
              int{major}, ".", int{minor}, ", expected 1.0 or 2.0");
  const size_t header_size = major == 1 ? cursor.read<uint16_t>() : cursor.read<uint32_t>();
  const std::string header = cursor.take_string(header_size);

  const auto fields = HeaderParser(header, path).parse();
  YOLO4_CHECK(fields.descr && fields.fortran_order && fields.shape, path,
              ": .npy header lacks descr, fortran_order or shape: ", header);
  YOLO4_CHECK(*fields.descr == "<f4", path, ": expected dtype '<f4' (float32), found '",
              *fields.descr, "'");
  YOLO4_CHECK(!*fields.fortran_order, path, ": Fortran-order arrays are not supported");

  HostArray array;
  array.shape = *fields.shape;
  const size_t count = element_count(array.shape, path);
  const size_t expected_size = cursor.offset() + count * sizeof(float);
  YOLO4_CHECK(bytes.size() == expected_size, path, ": expected ", expected_size,
              " bytes for shape ", shape_literal(array.shape), ", found ", bytes.size());
  const auto payload = cursor.take(count * sizeof(float));
  array.data.resize(count);
  std::copy(payload.begin(), payload.end(), reinterpret_cast<uint8_t*>(array.data.data()));
  return array;
}

void write_npy(const std::string& path, const float* data, std::span<const int64_t> shape) {
  const size_t count = element_count(shape, path);
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_literal(shape) + ", }";
  // Version 1.0 stores the header length in 16 bits; longer headers need 2.0's 32 bits.
  const size_t v1_prefix = kMagic.size() + 2 + 2;
  const bool v2 = v1_prefix + header.size() + kHeaderAlignment > 0xffff;
  const size_t prefix = v2 ? v1_prefix + 2 : v1_prefix;
  const size_t padded =
      (prefix + header.size() + 1 + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment;
  header.append(padded - prefix - header.size() - 1, ' ');
  header += '\n';

  std::ofstream out(path, std::ios::binary);
  YOLO4_CHECK(out, path, ": cannot create file");
  out.write(kMagic.data(), static_cast<std::streamsize>(kMagic.size()));
  out.put(static_cast<char>(v2 ? 2 : 1)).put(0);
  const auto header_size = static_cast<uint32_t>(header.size());
  out.write(reinterpret_cast<const char*>(&header_size), v2 ? 4 : 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data),
            static_cast<std::streamsize>(count * sizeof(float)));
  out.close();
  YOLO4_CHECK(out, path, ": write failed");
}

}  // namespace yolo4
