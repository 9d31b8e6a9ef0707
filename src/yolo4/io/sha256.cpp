#include "yolo4/io/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "yolo4/core/error.h"

namespace yolo4 {

void Sha256::FreeContext::operator()(evp_md_ctx_st* context) const {
  EVP_MD_CTX_free(context);
}

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  YOLO4_CHECK(context_ && EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) == 1,
              "sha256: OpenSSL could not start a SHA-256 digest");
}

void Sha256::update(const void* data, size_t size) {
  YOLO4_CHECK(EVP_DigestUpdate(context_.get(), data, size) == 1, "sha256: OpenSSL could not hash ",
              size, " bytes");
}

std::array<uint8_t, 32> Sha256::finish() {
  std::array<uint8_t, 32> digest{};
  unsigned int length = 0;
  YOLO4_CHECK(
      EVP_DigestFinal_ex(context_.get(), digest.data(), &length) == 1 && length == digest.size(),
      "sha256: OpenSSL gave a ", length, "-byte digest, expected ", digest.size());
  return digest;
}

std::string Sha256::finish_hex() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t byte : finish()) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 15];
  }
  return hex;
}

std::string sha256_hex(std::string_view data) {
  Sha256 hash;
  hash.update(data);
  return hash.finish_hex();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("sha256: cannot open ", path, " (", std::strerror(errno), ")");
  Sha256 hash;
  std::vector<char> chunk(size_t{1} << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    hash.update(chunk.data(), static_cast<size_t>(in.gcount()));
  }
  YOLO4_CHECK(in.eof(), "sha256: read error in ", path, " (", std::strerror(errno), ")");
  return hash.finish_hex();
}

}  // namespace yolo4
