#include "yolo4/serve/page.h"

namespace yolo4::serve {

const PageFile* find_page_file(std::string_view url_path) {
  if (url_path == "/") url_path = "/index.html";
  for (const PageFile& file : page_files()) {
    if (file.path == url_path) return &file;
  }
  return nullptr;
}

std::string_view page_content_type(std::string_view path) {
  if (path.ends_with(".html")) return "text/html; charset=utf-8";
  if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (path.ends_with(".css")) return "text/css; charset=utf-8";
  if (path.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace yolo4::serve
