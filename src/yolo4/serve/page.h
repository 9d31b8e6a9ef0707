// The browser page of yolo4 serve (src/yolo4/serve/page/*), compiled into the binary by
// embed_page.cmake: serving it reads no file, so no request can reach a file outside it.
#pragma once

#include <span>
#include <string_view>

namespace yolo4::serve {

struct PageFile {
  std::string_view path;     // "/index.html", "/app.js", ...
  std::string_view content;  // the file's bytes
};

// Every file of the page (generated source).
std::span<const PageFile> page_files();

// The page file for a URL path ("/" is "/index.html"); nullptr for anything else.
const PageFile* find_page_file(std::string_view url_path);

// The Content-Type of a page file, from its extension.
std::string_view page_content_type(std::string_view path);

}  // namespace yolo4::serve
