// Whole .pth checkpoints: the unpickled state_dict against its storages (types, element counts,
// offsets, strides). A mutated zip rarely survives the CRC check, so the archive is built here
// from the input: [u8 n][n x u16 storage sizes][storage bytes...][data.pkl], with storage i
// stored as archive/data/<i>, as torch.save names them.
#include <zlib.h>

#include "fuzz_util.h"
#include "yolo4/loaders/pth.h"

namespace {

void put(std::vector<uint8_t>& out, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// A stored (uncompressed) zip archive with correct CRCs.
std::vector<uint8_t> zip_of(
    const std::vector<std::pair<std::string, std::span<const uint8_t>>>& entries) {
  std::vector<uint8_t> out, directory;
  for (const auto& [name, data] : entries) {
    const auto crc = static_cast<uint32_t>(crc32_z(0, data.data(), data.size()));
    const auto offset = static_cast<uint32_t>(out.size());
    const auto size = static_cast<uint32_t>(data.size());
    put(out, 0x04034b50, 4), put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4);
    put(out, crc, 4), put(out, size, 4), put(out, size, 4);
    put(out, static_cast<uint32_t>(name.size()), 2), put(out, 0, 2);
    out.insert(out.end(), name.begin(), name.end());
    out.insert(out.end(), data.begin(), data.end());
    put(directory, 0x02014b50, 4), put(directory, 20, 2), put(directory, 20, 2);
    put(directory, 0, 2), put(directory, 0, 2), put(directory, 0, 4), put(directory, crc, 4);
    put(directory, size, 4), put(directory, size, 4);
    put(directory, static_cast<uint32_t>(name.size()), 2), put(directory, 0, 2);
    put(directory, 0, 2), put(directory, 0, 2), put(directory, 0, 2), put(directory, 0, 4);
    put(directory, offset, 4);
    directory.insert(directory.end(), name.begin(), name.end());
  }
  const auto directory_offset = static_cast<uint32_t>(out.size());
  out.insert(out.end(), directory.begin(), directory.end());
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2);
  put(out, static_cast<uint32_t>(entries.size()), 2),
      put(out, static_cast<uint32_t>(entries.size()), 2);
  put(out, static_cast<uint32_t>(directory.size()), 4), put(out, directory_offset, 4),
      put(out, 0, 2);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolo4;
  fuzz::InputReader input({data, size});
  std::vector<uint32_t> sizes(input.u8() % 8);
  for (uint32_t& storage_size : sizes) storage_size = input.u16();
  std::vector<std::pair<std::string, std::span<const uint8_t>>> entries;
  for (size_t i = 0; i < sizes.size(); ++i) {
    entries.emplace_back("archive/data/" + std::to_string(i), input.bytes(sizes[i]));
  }
  entries.emplace_back("archive/data.pkl", input.rest());
  const std::string path = fuzz::write_scratch("pth", zip_of(entries));
  fuzz::expect_ok_or_error([&] { load_pth(path); });
  return 0;
}
