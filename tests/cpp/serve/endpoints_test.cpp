// In-process tests of every yolo4 serve endpoint and every error status they answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "serve_test_util.h"
#include "yolo4/postprocess/nms.h"

namespace yolo4::serve_test {
namespace {

using nlohmann::json;

class Endpoints : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RunningServer(test_options(2, 8)); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static httplib::Result post_raw(const std::string& path, const std::string& body,
                                  const std::string& type = "image/jpeg") {
    return server_->client().Post(path, body, type);
  }
  static httplib::Result post_file(const std::string& path, const std::string& bytes) {
    const httplib::MultipartFormDataItems items = {{"file", bytes, "dog.jpg", "image/jpeg"}};
    return server_->client().Post(path, items);
  }
  // Expects status and a JSON {"error": one line} body; returns the reason.
  static std::string expect_error(const httplib::Result& r, int status) {
    if (!r) {
      ADD_FAILURE() << "no response: " << httplib::to_string(r.error());
      return "";
    }
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    const json body = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.contains("error")) << r->body;
    if (!body.is_object() || !body.contains("error")) return "";
    const std::string reason = body["error"];
    EXPECT_FALSE(reason.empty());
    EXPECT_EQ(reason.find('\n'), std::string::npos) << reason;
    return reason;
  }

  static RunningServer* server_;
};
RunningServer* Endpoints::server_ = nullptr;

// What a Detector built with these thresholds finds in dog.jpg: what the server must answer.
std::vector<Detection> direct_detections(float conf, float iou, int max_det) {
  DetectorOptions options;
  options.conf_threshold = conf;
  options.nms.iou_threshold = iou;
  options.nms.kind = NmsKind::kIou;
  options.nms.max_detections = max_det;
  options.threads = 1;
  options.pinning = ThreadPinning::kFloating;
  Detector detector(trained_model(), options);
  const std::vector<unsigned char> bytes(dog_jpeg().begin(), dog_jpeg().end());
  return detector.detect(cv::imdecode(bytes, cv::IMREAD_COLOR), "dog.jpg");
}

void expect_same(const json& detections, const std::vector<Detection>& expected) {
  ASSERT_EQ(detections.size(), expected.size()) << detections.dump();
  const auto& names = trained_model()->class_names();
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("detection " + std::to_string(i));
    const json& d = detections[i];
    EXPECT_EQ(d["class_id"].get<int>(), expected[i].class_id);
    EXPECT_EQ(d["class"].get<std::string>(), names[expected[i].class_id]);
    EXPECT_NEAR(d["score"].get<double>(), expected[i].score, 1e-5);
    ASSERT_EQ(d["box"].size(), 4u);
    EXPECT_NEAR(d["box"][0].get<double>(), expected[i].x1, 1e-3);
    EXPECT_NEAR(d["box"][1].get<double>(), expected[i].y1, 1e-3);
    EXPECT_NEAR(d["box"][2].get<double>(), expected[i].x2, 1e-3);
    EXPECT_NEAR(d["box"][3].get<double>(), expected[i].y2, 1e-3);
  }
}

std::set<std::string> class_set(const json& detections) {
  std::set<std::string> classes;
  for (const json& d : detections) classes.insert(d["class"].get<std::string>());
  return classes;
}

TEST_F(Endpoints, DetectRawBodyFindsDogBicycleCar) {
  const auto r = post_raw("/detect", dog_jpeg());
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const json body = parse_json(r);
  EXPECT_EQ(body["width"], 768);
  EXPECT_EQ(body["height"], 576);
  const std::set<std::string> classes = class_set(body["detections"]);
  for (const char* name : {"dog", "bicycle", "car"}) EXPECT_TRUE(classes.count(name)) << name;
  expect_same(body["detections"], direct_detections(0.25f, 0.45f, 100));
  for (const char* stage : {"queue", "decode", "preprocess", "network", "postprocess", "total"}) {
    ASSERT_TRUE(body["timings_ms"].contains(stage)) << stage;
    EXPECT_GE(body["timings_ms"][stage].get<double>(), 0.0) << stage;
  }
  EXPECT_GT(body["timings_ms"]["network"].get<double>(), 0.0);
  EXPECT_GE(body["timings_ms"]["total"].get<double>(), body["timings_ms"]["network"].get<double>());
}

TEST_F(Endpoints, DetectMultipartAndOtherFormatsGiveTheSameBoxes) {
  const json raw = parse_json(post_raw("/detect", dog_jpeg()));
  const auto multipart = post_file("/detect", dog_jpeg());
  ASSERT_TRUE(multipart);
  ASSERT_EQ(multipart->status, 200) << multipart->body;
  EXPECT_EQ(parse_json(multipart)["detections"], raw["detections"]);

  // Lossless re-encodings of the decoded JPEG decode to the same pixels: same boxes.
  const std::vector<unsigned char> jpeg(dog_jpeg().begin(), dog_jpeg().end());
  const cv::Mat pixels = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  for (const char* ext : {".png", ".bmp", ".webp"}) {
    SCOPED_TRACE(ext);
    std::vector<unsigned char> encoded;
    std::vector<int> params;
    if (std::string(ext) == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, 101};  // lossless
    ASSERT_TRUE(cv::imencode(ext, pixels, encoded, params));
    const auto r = post_raw("/detect", std::string(encoded.begin(), encoded.end()),
                            "application/octet-stream");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(parse_json(r)["detections"], raw["detections"]);
  }
}

TEST_F(Endpoints, DetectQueryParametersSetThresholds) {
  auto detections_for = [](const std::string& query) {
    const auto r = post_raw("/detect?" + query, dog_jpeg());
    EXPECT_TRUE(r && r->status == 200) << query;
    return r && r->status == 200 ? parse_json(r)["detections"] : json::array();
  };
  expect_same(detections_for("conf=0.6&nms=0.3&max_det=50"), direct_detections(0.6f, 0.3f, 50));
  expect_same(detections_for("conf=0.05"), direct_detections(0.05f, 0.45f, 100));
  const json one = detections_for("max_det=1");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], detections_for("")[0]);
  EXPECT_TRUE(detections_for("conf=1").empty());
  EXPECT_GT(detections_for("conf=0.05").size(), detections_for("conf=0.5").size());
}

TEST_F(Endpoints, DetectBadQueryParametersAre400) {
  for (const char* query : {"conf=abc", "conf=2", "conf=0", "conf=", "nms=1.5", "nms=-0.1",
                            "max_det=-1", "max_det=2.5", "max_det=x", "conf=nan"}) {
    SCOPED_TRACE(query);
    const std::string reason =
        expect_error(post_raw(std::string("/detect?") + query, dog_jpeg()), 400);
    EXPECT_NE(reason.find("query parameter"), std::string::npos) << reason;
  }
}

TEST_F(Endpoints, ObjdetectionV2AnswersTheDemoContract) {
  const json detect = parse_json(post_raw("/detect", dog_jpeg()));
  const auto r = post_file("/objdetection_v2", dog_jpeg());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json list = parse_json(r);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), detect["detections"].size());
  for (size_t i = 0; i < list.size(); ++i) {
    SCOPED_TRACE(i);
    const json& row = list[i];
    const json& d = detect["detections"][i];
    ASSERT_EQ(row.size(), 7u);
    const double scale[4] = {768, 576, 768, 576};
    for (int k = 0; k < 4; ++k) {
      EXPECT_GE(row[k].get<double>(), 0.0);
      EXPECT_LE(row[k].get<double>(), 1.0);
      EXPECT_NEAR(row[k].get<double>() * scale[k], d["box"][k].get<double>(), 1e-3);
    }
    EXPECT_NEAR(row[4].get<double>(), d["score"].get<double>(), 1e-6);
    EXPECT_EQ(row[5], row[4]);
    EXPECT_EQ(row[6].get<int>(), d["class_id"].get<int>());
  }
  expect_error(post_raw("/objdetection_v2", "not an image", "application/octet-stream"), 400);
}

TEST_F(Endpoints, PageIsServedFromTheBinary) {
  const auto index = server_->client().Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<canvas"), std::string::npos);
  EXPECT_EQ(server_->client().Get("/index.html")->body, index->body);
  const auto js = server_->client().Get("/app.js");
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("getUserMedia"), std::string::npos);
  EXPECT_EQ(server_->client().Get("/style.css")->status, 200);
  // No network fetch: the page names no other host.
  for (const auto& page : {index->body, js->body}) {
    EXPECT_EQ(page.find("http://"), std::string::npos);
    EXPECT_EQ(page.find("https://"), std::string::npos);
    EXPECT_EQ(page.find("//cdn"), std::string::npos);
  }
}

TEST_F(Endpoints, NoPathReachesFilesOutsideThePage) {
  for (const char* path :
       {"/../CMakeLists.txt", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
        "/page/index.html", "/serve/page/app.js", "/etc/passwd", "//etc/passwd",
        "/index.html/../../CMakeLists.txt", "/app.js%00.html", "/nope"}) {
    SCOPED_TRACE(path);
    expect_error(server_->client().Get(path), 404);
  }
}

TEST_F(Endpoints, HealthzAndUnknownRoutes) {
  const auto health = server_->client().Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");
  expect_error(post_raw("/nope", dog_jpeg()), 404);
  expect_error(server_->client().Delete("/detect"), 404);
}

TEST_F(Endpoints, BadImagesAre400WithAReason) {
  const std::string& jpeg = dog_jpeg();
  std::string random(4096, '\0');
  uint32_t state = 12345;
  for (char& c : random) c = char((state = state * 1664525u + 1013904223u) >> 24);
  std::vector<unsigned char> too_big;  // 1025 x 1024 > the 1 MiB-pixel limit of test_options
  ASSERT_TRUE(cv::imencode(".png", cv::Mat(1024, 1025, CV_8UC3, cv::Scalar(9, 9, 9)), too_big));
  // A PNG header claiming 100000 x 100000 pixels: refused before anything is decoded.
  std::vector<unsigned char> bomb;
  ASSERT_TRUE(cv::imencode(".png", cv::Mat(8, 8, CV_8UC3, cv::Scalar(0, 0, 0)), bomb));
  for (int at : {16, 20}) {
    bomb[at] = 0x00, bomb[at + 1] = 0x01, bomb[at + 2] = 0x86, bomb[at + 3] = 0xA0;
  }
  const struct {
    const char* name;
    std::string body;
    const char* reason;
  } cases[] = {
      {"truncated JPEG", jpeg.substr(0, jpeg.size() / 2), "truncated"},
      {"random bytes", random, "size"},
      {"empty body", "", "empty"},
      {"text", "hello, this is not an image", "size"},
      {"too many pixels", std::string(too_big.begin(), too_big.end()), "pixels"},
      {"decompression bomb", std::string(bomb.begin(), bomb.end()), "100000x100000"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string reason = expect_error(post_raw("/detect", c.body), 400);
    EXPECT_NE(reason.find(c.reason), std::string::npos) << reason;
  }
}

TEST_F(Endpoints, OversizeBodyIs413) {
  const std::string body(kTestMaxBody + 1, 'x');
  const std::string reason = expect_error(post_raw("/detect", body), 413);
  EXPECT_NE(reason.find("limit"), std::string::npos) << reason;
  // The connection survives it: the next request on a new client works.
  EXPECT_EQ(post_raw("/detect", dog_jpeg())->status, 200);
}

TEST_F(Endpoints, WrongContentTypeIs415AndMultipartNeedsFile) {
  const std::string reason = expect_error(post_raw("/detect", dog_jpeg(), "text/plain"), 415);
  EXPECT_NE(reason.find("text/plain"), std::string::npos) << reason;
  expect_error(post_raw("/detect", dog_jpeg(), "application/json"), 415);
  const httplib::MultipartFormDataItems items = {{"image", dog_jpeg(), "dog.jpg", "image/jpeg"}};
  const std::string missing = expect_error(server_->client().Post("/detect", items), 400);
  EXPECT_NE(missing.find("'file'"), std::string::npos) << missing;
}

TEST_F(Endpoints, MetricsCountRequestsByStatusInPrometheusFormat) {
  ASSERT_EQ(post_raw("/detect", dog_jpeg())->status, 200);
  ASSERT_EQ(post_raw("/detect", "garbage")->status, 400);
  ASSERT_EQ(post_raw("/detect", std::string(kTestMaxBody + 1, 'x'))->status, 413);
  ASSERT_EQ(server_->client().Get("/nope/../../x")->status, 404);
  const auto r = server_->client().Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  const std::vector<std::string> expected = {
      "# TYPE yolo4_http_requests_total counter",
      "yolo4_http_requests_total{endpoint=\"/detect\",status=\"200\"} ",
      "yolo4_http_requests_total{endpoint=\"/detect\",status=\"400\"} ",
      "yolo4_http_requests_total{endpoint=\"/detect\",status=\"413\"} ",
      "yolo4_http_requests_total{endpoint=\"other\",status=\"404\"} ",
      "# TYPE yolo4_request_duration_seconds histogram",
      "yolo4_request_duration_seconds_bucket{le=\"0.005\"} ",
      "yolo4_request_duration_seconds_bucket{le=\"+Inf\"} ",
      "yolo4_request_duration_seconds_sum ",
      "# TYPE yolo4_queue_depth gauge",
      "\nyolo4_queue_depth 0\n",
      "\nyolo4_queue_capacity 8\n",
      "\nyolo4_sessions 2\n",
      "\nyolo4_sessions_busy 0\n"};
  const std::string text = metrics_with(*server_, expected);
  for (const std::string& line : expected) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  // Histogram buckets are cumulative: +Inf equals the count, and no bucket exceeds it.
  auto value_after = [&](const std::string& key) {
    const size_t at = text.find(key);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
  };
  const double count = value_after("yolo4_request_duration_seconds_count ");
  EXPECT_GE(count, 2);  // the 200 and the 400 (httplib itself refuses the 413)
  EXPECT_EQ(value_after("yolo4_request_duration_seconds_bucket{le=\"+Inf\"} "), count);
  EXPECT_LE(value_after("yolo4_request_duration_seconds_bucket{le=\"0.005\"} "), count);
}

}  // namespace
}  // namespace yolo4::serve_test
