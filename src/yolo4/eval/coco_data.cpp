#include "yolo4/eval/coco_data.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// Where an entry sits in the file, for error messages: "instances.json: annotations[12] (id 7)".
struct Location {
  const std::string& file;
  std::string_view list;
  size_t index;
  std::optional<int64_t> id;

  std::string str() const {
    std::string s = file + ": " + std::string(list) + "[" + std::to_string(index) + "]";
    if (id) s += " (id " + std::to_string(*id) + ")";
    return s;
  }
};

std::string_view type_name(element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::ARRAY:
      return "an array";
    case simdjson::dom::element_type::OBJECT:
      return "an object";
    case simdjson::dom::element_type::STRING:
      return "a string";
    case simdjson::dom::element_type::BOOL:
      return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
    default:
      return "a number";
  }
}

std::optional<element> optional_field(object entry, std::string_view key) {
  element value;
  if (entry.at_key(key).get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

element required_field(object entry, std::string_view key, const Location& where) {
  std::optional<element> value = optional_field(entry, key);
  if (!value) fail(where.str(), ": has no '", key, "'");
  return *value;
}

double number(element value, std::string_view key, const Location& where) {
  double result;
  if (value.get_double().get(result) != simdjson::SUCCESS) {
    fail(where.str(), ": '", key, "' must be a number, not ", type_name(value));
  }
  return result;
}

// pycocotools uses ids as dictionary keys, where 3 and 3.0 are the same key.
int64_t integer(element value, std::string_view key, const Location& where) {
  int64_t result;
  if (value.get_int64().get(result) == simdjson::SUCCESS) return result;
  double as_double;
  if (value.get_double().get(as_double) == simdjson::SUCCESS &&
      std::trunc(as_double) == as_double && std::abs(as_double) < 9.0e15) {
    return static_cast<int64_t>(as_double);
  }
  fail(where.str(), ": '", key, "' must be an integer, not ", type_name(value));
}

CocoBox box(element value, const Location& where) {
  array values;
  if (value.get_array().get(values) != simdjson::SUCCESS || values.size() != 4) {
    fail(where.str(), ": 'bbox' must be an array of 4 numbers [x, y, width, height]");
  }
  CocoBox result;
  size_t i = 0;
  for (element v : values) result[i++] = number(v, "bbox", where);
  YOLO4_CHECK(result[2] >= 0 && result[3] >= 0, where.str(), ": 'bbox' has a negative size (",
              result[2], " x ", result[3], ")");
  return result;
}

object entry_object(element value, const Location& where) {
  object result;
  if (value.get_object().get(result) != simdjson::SUCCESS) {
    fail(where.str(), ": must be an object, not ", type_name(value));
  }
  return result;
}

array top_level_array(object root, std::string_view key, const std::string& file) {
  element value;
  if (root.at_key(key).get(value) != simdjson::SUCCESS) {
    fail(file, ": has no '", key, "' (not a COCO annotation file?)");
  }
  array result;
  if (value.get_array().get(result) != simdjson::SUCCESS) {
    fail(file, ": '", key, "' must be an array, not ", type_name(value));
  }
  return result;
}

std::string string_or_empty(object entry, std::string_view key, const Location& where) {
  std::optional<element> value = optional_field(entry, key);
  if (!value) return {};
  std::string_view text;
  if (value->get_string().get(text) != simdjson::SUCCESS) {
    fail(where.str(), ": '", key, "' must be a string, not ", type_name(*value));
  }
  return std::string(text);
}

int dimension_or_zero(object entry, std::string_view key, const Location& where) {
  std::optional<element> value = optional_field(entry, key);
  if (!value) return 0;
  const int64_t pixels = integer(*value, key, where);
  YOLO4_CHECK(pixels >= 0 && pixels <= (1 << 30), where.str(), ": '", key, "' = ", pixels,
              " is not an image size");
  return static_cast<int>(pixels);
}

bool crowd_flag(object entry, const Location& where) {
  std::optional<element> value = optional_field(entry, "iscrowd");
  if (!value) return false;
  bool flag;
  if (value->get_bool().get(flag) == simdjson::SUCCESS) return flag;
  const int64_t number = integer(*value, "iscrowd", where);
  YOLO4_CHECK(number == 0 || number == 1, where.str(), ": 'iscrowd' must be 0 or 1, not ", number);
  return number == 1;
}

element parse_document(simdjson::dom::parser& parser, const simdjson::padded_string& json,
                       const std::string& name) {
  element root;
  const simdjson::error_code error = parser.parse(json).get(root);
  if (error != simdjson::SUCCESS)
    fail(name, ": not valid JSON (", simdjson::error_message(error), ")");
  return root;
}

simdjson::padded_string read_file(const std::string& path, std::string_view what) {
  std::error_code ec;
  YOLO4_CHECK(std::filesystem::is_regular_file(path, ec), what, " '", path,
              "': no such file (or not a regular file)");
  simdjson::padded_string json;
  const simdjson::error_code error = simdjson::padded_string::load(path).get(json);
  if (error != simdjson::SUCCESS) {
    fail(what, " '", path, "': cannot read (", simdjson::error_message(error), ")");
  }
  return json;
}

CocoDataset dataset_from(element root, const std::string& name) {
  object top;
  if (root.get_object().get(top) != simdjson::SUCCESS) {
    fail(name, ": must be a JSON object with 'images', 'annotations' and 'categories', not ",
         type_name(root));
  }
  CocoDataset dataset;
  std::unordered_set<int64_t> image_ids, category_ids, annotation_ids;

  const array images = top_level_array(top, "images", name);
  dataset.images.reserve(images.size());
  size_t index = 0;
  for (element value : images) {
    Location where{name, "images", index++, std::nullopt};
    const object entry = entry_object(value, where);
    CocoImage image;
    image.id = integer(required_field(entry, "id", where), "id", where);
    where.id = image.id;
    YOLO4_CHECK(image_ids.insert(image.id).second, where.str(), ": image id ", image.id,
                " appears more than once");
    image.file_name = string_or_empty(entry, "file_name", where);
    image.width = dimension_or_zero(entry, "width", where);
    image.height = dimension_or_zero(entry, "height", where);
    dataset.images.push_back(std::move(image));
  }

  const array categories = top_level_array(top, "categories", name);
  index = 0;
  for (element value : categories) {
    Location where{name, "categories", index++, std::nullopt};
    const object entry = entry_object(value, where);
    CocoCategory category;
    category.id = integer(required_field(entry, "id", where), "id", where);
    where.id = category.id;
    YOLO4_CHECK(category_ids.insert(category.id).second, where.str(), ": category id ", category.id,
                " appears more than once");
    category.name = string_or_empty(entry, "name", where);
    dataset.categories.push_back(std::move(category));
  }

  const array annotations = top_level_array(top, "annotations", name);
  dataset.annotations.reserve(annotations.size());
  index = 0;
  for (element value : annotations) {
    Location where{name, "annotations", index++, std::nullopt};
    const object entry = entry_object(value, where);
    CocoAnnotation annotation;
    annotation.id = integer(required_field(entry, "id", where), "id", where);
    where.id = annotation.id;
    // pycocotools indexes annotations by id: a repeated id would silently evaluate one of them
    // twice.
    YOLO4_CHECK(annotation_ids.insert(annotation.id).second, where.str(), ": annotation id ",
                annotation.id, " appears more than once");
    annotation.image_id = integer(required_field(entry, "image_id", where), "image_id", where);
    YOLO4_CHECK(image_ids.count(annotation.image_id), where.str(), ": image_id ",
                annotation.image_id, " is not in 'images'");
    annotation.category_id =
        integer(required_field(entry, "category_id", where), "category_id", where);
    YOLO4_CHECK(category_ids.count(annotation.category_id), where.str(), ": category_id ",
                annotation.category_id, " is not in 'categories'");
    annotation.bbox = box(required_field(entry, "bbox", where), where);
    annotation.area = number(required_field(entry, "area", where), "area", where);
    annotation.iscrowd = crowd_flag(entry, where);
    dataset.annotations.push_back(annotation);
  }
  return dataset;
}

std::vector<CocoResult> results_from(element root, const std::string& name,
                                     const CocoDataset& dataset) {
  array entries;
  if (root.get_array().get(entries) != simdjson::SUCCESS) {
    fail(name,
         ": a results file must be a JSON array of {image_id, category_id, bbox, score}, "
         "not ",
         type_name(root));
  }
  std::unordered_set<int64_t> image_ids;
  for (const CocoImage& image : dataset.images) image_ids.insert(image.id);

  std::vector<CocoResult> results;
  results.reserve(entries.size());
  size_t index = 0;
  for (element value : entries) {
    const Location where{name, "results", index++, std::nullopt};
    const object entry = entry_object(value, where);
    CocoResult result;
    result.image_id = integer(required_field(entry, "image_id", where), "image_id", where);
    YOLO4_CHECK(image_ids.count(result.image_id), where.str(), ": image_id ", result.image_id,
                " is not an image of the annotations (results for another dataset?)");
    result.category_id = integer(required_field(entry, "category_id", where), "category_id", where);
    result.bbox = box(required_field(entry, "bbox", where), where);
    result.score = number(required_field(entry, "score", where), "score", where);
    results.push_back(result);
  }
  return results;
}

// The shortest text that reads back as exactly `value`.
void write_number(std::ostream& out, double value) {
  char text[32];
  const auto [end, error] = std::to_chars(text, text + sizeof(text), value);
  YOLO4_CHECK(error == std::errc() && std::isfinite(value), "results: cannot write ", value,
              " as a JSON number");
  out.write(text, end - text);
}

double round_to(double value, double scale) {
  return std::round(value * scale) / scale;
}

}  // namespace

CocoResult coco_result(const Detection& d, int64_t image_id, int64_t category_id) {
  const double x1 = d.x1, y1 = d.y1, x2 = d.x2, y2 = d.y2;
  return {image_id,
          category_id,
          {round_to(x1, 100), round_to(y1, 100), round_to(x2 - x1, 100), round_to(y2 - y1, 100)},
          round_to(d.score, 1e6)};
}

CocoDataset parse_coco_annotations(std::string_view json, const std::string& name) {
  simdjson::dom::parser parser;
  return dataset_from(parse_document(parser, simdjson::padded_string(json), name), name);
}

CocoDataset load_coco_annotations(const std::string& path) {
  simdjson::dom::parser parser;
  const simdjson::padded_string json = read_file(path, "annotations file");
  return dataset_from(parse_document(parser, json, path), path);
}

std::vector<CocoResult> parse_coco_results(std::string_view json, const std::string& name,
                                           const CocoDataset& dataset) {
  simdjson::dom::parser parser;
  return results_from(parse_document(parser, simdjson::padded_string(json), name), name, dataset);
}

std::vector<CocoResult> load_coco_results(const std::string& path, const CocoDataset& dataset) {
  simdjson::dom::parser parser;
  const simdjson::padded_string json = read_file(path, "results file");
  return results_from(parse_document(parser, json, path), path, dataset);
}

void write_coco_results(std::ostream& out, std::span<const CocoResult> results) {
  out << "[";
  for (size_t i = 0; i < results.size(); ++i) {
    const CocoResult& r = results[i];
    out << (i ? ",\n" : "\n") << R"({"image_id": )" << r.image_id << R"(, "category_id": )"
        << r.category_id << R"(, "bbox": [)";
    for (int k = 0; k < 4; ++k) {
      if (k) out << ", ";
      write_number(out, r.bbox[k]);
    }
    out << R"(], "score": )";
    write_number(out, r.score);
    out << "}";
  }
  out << (results.empty() ? "]\n" : "\n]\n");
}

void save_coco_results(const std::string& path, std::span<const CocoResult> results) {
  std::ofstream out(path, std::ios::binary);
  YOLO4_CHECK(out, "results file '", path, "': cannot open for writing");
  write_coco_results(out, results);
  out.flush();
  YOLO4_CHECK(out, "results file '", path, "': write failed (disk full?)");
}

}  // namespace yolo4
