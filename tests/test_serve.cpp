// serve_age's API (apps/serve/) with a real HTTP client over loopback: an AgeServer on a free port of 127.0.0.1 in
// this process, with the shipped model, and httplib::Client. Bad input of every kind (empty, truncated, a PNG bomb,
// 100 MB, wrong types) gets its JSON error and status and leaves the server answering; concurrent requests get the
// answers serial ones get; a full queue is a 503. The real photos of ../shared (and the landmark model of
// scripts/get_pretrained.sh, for the shipped model's aligned crops) are used when present, skipped otherwise.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "apps/face_ages.h"
#include "apps/serve/age_service.h"
#include "apps/serve/http_api.h"
#include "apps/serve/worker_pool.h"
#include "data/encode.h"
#include "train/objective.h"

namespace {

using namespace edat;
namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::string kShipped = EDAT_SOURCE_DIR "/trained-models/age_mobilenet_v2_utkface.safetensors";
const std::string kLandmarks = EDAT_SOURCE_DIR "/pretrained/shape_predictor_5_face_landmarks.dat";
const std::string kFaces = EDAT_SHARED_DATA "/faces";
const std::string kFixtureImages = EDAT_DATA_FIXTURES "/images";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Peak resident memory of this process, in MiB (VmHWM).
double peak_resident_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return 0;
}

// Box crops (detection without the landmark model, so that every machine can run it) unless told otherwise.
apps::FaceAgeOptions box_crops() {
  apps::FaceAgeOptions options;
  options.detect_face = true;
  options.tta_flip = true;
  options.max_pixels = serve::kDefaultMaxPixels;
  return options;
}

// The shipped model's own crop (aligned chips) as serve_age uses it by default: needs the landmark model.
apps::FaceAgeOptions shipped_crops() {
  apps::FaceAgeOptions options = box_crops();
  options.align = true;
  options.landmarks = kLandmarks;
  return options;
}

// An AgeServer with the shipped model on a free port, answering on its own thread until destroyed.
class RunningServer {
 public:
  explicit RunningServer(const apps::FaceAgeOptions& options, int threads = 2, std::size_t queue = 8,
                         std::size_t max_upload_bytes = std::size_t{20} << 20)
      : estimator_(train::load_age_model(kShipped), Device::cpu(), options), service_(estimator_, threads, queue) {
    serve::HttpOptions http;
    http.max_upload_bytes = max_upload_bytes;
    server_ = std::make_unique<serve::AgeServer>(service_, serve::describe_model(estimator_, kShipped), http);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->run(); });
    while (!server_->running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
  }

  httplib::Client client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(120, 0);
    return client;
  }
  // POST /v1/predict with `body` as the image.
  httplib::Result predict(const std::string& body, const std::string& type = "image/jpeg") const {
    return client().Post("/v1/predict", body, type.c_str());
  }
  apps::FaceAgeEstimator& estimator() { return estimator_; }
  int port() const { return port_; }

 private:
  apps::FaceAgeEstimator estimator_;
  serve::AgeService service_;
  std::unique_ptr<serve::AgeServer> server_;
  int port_ = 0;
  std::thread thread_;
};

// The answer's JSON, after checking its status and that it is JSON.
Json json_of(const httplib::Result& answer, int status) {
  EXPECT_TRUE(answer) << "no answer: " << httplib::to_string(answer.error());
  if (!answer) return Json();
  EXPECT_EQ(answer->status, status) << answer->body;
  EXPECT_EQ(answer->get_header_value("Content-Type"), "application/json");
  return Json::parse(answer->body);
}

// An error answer: its status, and a message containing `words`.
void expect_error(const httplib::Result& answer, int status, const std::string& words) {
  const Json body = json_of(answer, status);
  if (body.is_null()) return;
  EXPECT_EQ(body["status"], status);
  EXPECT_NE(body["error"].get<std::string>().find(words), std::string::npos) << body["error"];
}

// A PNG of width x height black pixels whose deflate stream is nothing but matches of 258 zeros at distance 1 (13
// bits each, fixed Huffman codes): 8192 x 8192 (192 MiB of RGB) fits in 1.3 MB. CRCs and the Adler-32 are right,
// so a decoder refuses it for its size alone.
std::string png_bomb(std::uint32_t width, std::uint32_t height) {
  std::string zlib = {'\x78', '\x01'};
  std::uint32_t bits = 0;
  int count = 0;
  auto put = [&](std::uint32_t value, int n) {  // n bits, least significant first (deflate's bit order)
    for (int i = 0; i < n; ++i) {
      bits |= ((value >> i) & 1u) << count;
      if (++count == 8) zlib.push_back(static_cast<char>(bits)), bits = 0, count = 0;
    }
  };
  auto code = [&](std::uint32_t value, int n) {  // a Huffman code: most significant bit first
    for (int i = n - 1; i >= 0; --i) put((value >> i) & 1u, 1);
  };
  const std::uint64_t raw = std::uint64_t{height} * (1 + 3 * std::uint64_t{width});  // a filter byte per row
  put(1, 1), put(1, 2);  // the last block, fixed Huffman codes
  code(0x30, 8);         // literal 0
  std::uint64_t left = raw - 1;
  for (; left >= 258; left -= 258) code(0xC5, 8), code(0, 5);  // length 258 (symbol 285), distance 1 (code 0)
  for (; left > 0; --left) code(0x30, 8);
  code(0, 7);  // end of block
  if (count) zlib.push_back(static_cast<char>(bits));
  auto be32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  zlib += be32(static_cast<std::uint32_t>(raw % 65521) << 16 | 1);  // Adler-32 of zeros: a = 1, b = length
  auto crc32 = [](const std::string& bytes) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char byte : bytes) {
      crc ^= byte;
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    return be32(static_cast<std::uint32_t>(data.size())) + type + data + be32(crc32(type + data));
  };
  const std::string header = be32(width) + be32(height) + std::string{8, 2, 0, 0, 0};  // 8-bit RGB
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", header) + chunk("IDAT", zlib) + chunk("IEND", "");
}

// A smooth JPEG of side x side pixels, without faces: detection on it takes a while when it is large.
std::string gradient_jpeg(int side) {
  data::Image image(side, side);
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      std::uint8_t* p = image.row(y) + 3 * x;
      p[0] = static_cast<std::uint8_t>(x * 255 / side), p[1] = static_cast<std::uint8_t>(y * 255 / side), p[2] = 128;
    }
  }
  const std::vector<std::uint8_t> bytes = data::encode_jpeg(image);
  return std::string(bytes.begin(), bytes.end());
}

// ---- the worker pool alone ----

TEST(WorkerPool, RefusesJobsBeyondItsQueueAndRunsTheOthers) {
  std::vector<std::unique_ptr<int>> states;
  states.push_back(std::make_unique<int>(0));
  serve::WorkerPool<int> pool(std::move(states), 2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> done = 0;
  std::promise<void> started;
  ASSERT_TRUE(pool.try_submit([&](int&) { started.set_value(), released.wait(), ++done; }));
  started.get_future().wait();  // the one worker is busy: now only the queue holds jobs
  EXPECT_TRUE(pool.try_submit([&](int& calls) { ++calls, ++done; }));
  EXPECT_TRUE(pool.try_submit([&](int& calls) { ++calls, ++done; }));
  EXPECT_FALSE(pool.try_submit([&](int&) { ADD_FAILURE() << "a job beyond the queue ran"; }));
  EXPECT_EQ(pool.waiting(), 2u);
  release.set_value();
  while (done < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(pool.try_submit([&](int&) { ++done; }));  // room again
}

TEST(WorkerPool, WithoutAQueueAnIdleThreadStillTakesAJob) {
  std::vector<std::unique_ptr<int>> states;
  states.push_back(std::make_unique<int>(0));
  serve::WorkerPool<int> pool(std::move(states), 0);
  std::promise<void> release, started;
  std::shared_future<void> released = release.get_future().share();
  ASSERT_TRUE(pool.try_submit([&](int&) { started.set_value(), released.wait(); }));
  started.get_future().wait();
  EXPECT_FALSE(pool.try_submit([](int&) {}));  // busy, and no room to wait
  release.set_value();
}

TEST(WorkerPool, AJobThatThrowsLeavesItsThreadWorking) {
  std::vector<std::unique_ptr<int>> states;
  states.push_back(std::make_unique<int>(0));
  std::promise<int> answer;
  {
    serve::WorkerPool<int> pool(std::move(states), 4);
    ASSERT_TRUE(pool.try_submit([](int&) { throw std::runtime_error("a bad job"); }));
    ASSERT_TRUE(pool.try_submit([&](int&) { answer.set_value(42); }));
  }  // the destructor finishes the queued jobs
  EXPECT_EQ(answer.get_future().get(), 42);
}

// ---- the API ----

TEST(ServeApi, HealthModelAndASelfContainedPage) {
  RunningServer server(box_crops());
  httplib::Client client = server.client();
  EXPECT_EQ(json_of(client.Get("/healthz"), 200), Json({{"status", "ok"}}));

  const Json model = json_of(client.Get("/v1/model"), 200);
  EXPECT_EQ(model["architecture"], "mobilenet_v2");
  EXPECT_EQ(model["input_size"], 112);
  EXPECT_EQ(model["age_range"], Json({0.0, 60.0}));
  EXPECT_EQ(model["face_crop"]["trained"], "aligned padding=0.2");
  EXPECT_EQ(model["face_crop"]["used"], "box margin=0.4");
  EXPECT_EQ(model["training_metrics_file"], "age_mobilenet_v2_utkface.results.json");
  EXPECT_NEAR(model["training_metrics"]["mae"].get<double>(), 4.53, 0.005);  // docs/model_card.md
  EXPECT_EQ(model["server"]["threads"], 2);
  EXPECT_EQ(model["server"]["queue"], 8);

  const httplib::Result page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_NE(page->body.find("id=\"file\""), std::string::npos);
  // Nothing from elsewhere: no script, style, font or image address outside the server.
  for (const char* outside : {"http://", "https://", "//fonts", "@import", "<link", "src=\""}) {
    EXPECT_EQ(page->body.find(outside), std::string::npos) << outside;
  }
}

TEST(ServeApi, APortInUseIsAnError) {
  RunningServer first(box_crops());
  apps::FaceAgeEstimator estimator(train::load_age_model(kShipped), Device::cpu(), box_crops());
  serve::AgeService service(estimator, 1, 1);
  serve::AgeServer second(service, serve::describe_model(estimator, kShipped), {});
  try {
    second.bind("127.0.0.1", first.port());
    FAIL() << "a second server bound port " << first.port();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
              std::string::npos)
        << e.what();
  }
}

TEST(ServeApi, ErrorsAreJsonWithTheirStatus) {
  RunningServer server(box_crops());
  const std::string jpeg = read_file(kFixtureImages + "/photo_420.jpg");
  ASSERT_GT(jpeg.size(), 1000u);
  expect_error(server.predict(""), 400, "empty (0 bytes)");
  expect_error(server.predict(jpeg.substr(0, jpeg.size() * 9 / 10)), 400, "corrupt or truncated JPEG data");
  expect_error(server.predict(jpeg.substr(0, 200)), 400, "cannot decode image <upload>");
  expect_error(server.predict(jpeg, "text/plain"), 415, "unsupported content type 'text/plain'");
  expect_error(server.predict(jpeg, "application/x-www-form-urlencoded"), 415, "unsupported content type");
  expect_error(server.predict("GIF87a but not really"), 400, "cannot decode image");
  expect_error(server.predict("hello, world", "application/octet-stream"), 415, "not a JPEG, PNG, BMP or GIF");
  expect_error(server.predict(read_file(kFixtureImages + "/rgba.png").substr(0, 100), "image/png"), 400,
               "cannot decode image");
  httplib::Client client = server.client();
  expect_error(client.Get("/v1/nothing"), 404, "the API is");
  expect_error(client.Get("/v1/predict"), 404, "POST /v1/predict");
  // A form without a file, and a form whose boundary never comes.
  httplib::MultipartFormDataItems no_file = {{"note", "just text", "", ""}};
  expect_error(client.Post("/v1/predict", no_file), 400, "has no file");
  expect_error(client.Post("/v1/predict", "--nope\r\n", "multipart/form-data; boundary=xyz"), 400, "could not be read");
  // Still answering.
  EXPECT_EQ(json_of(client.Get("/healthz"), 200)["status"], "ok");
}

TEST(ServeApi, AnImageAsBodyOrAsAFormFile) {
  RunningServer server(box_crops());
  const std::string jpeg = read_file(kFixtureImages + "/photo_420.jpg");
  const Json direct = json_of(server.predict(jpeg), 200);
  EXPECT_TRUE(direct["faces"].is_array());
  EXPECT_GT(direct["image"]["width"].get<int>(), 0);
  EXPECT_EQ(direct["model"]["architecture"], "mobilenet_v2");
  EXPECT_GE(direct["ms"].get<double>(), 0);
  httplib::MultipartFormDataItems form = {{"note", "hi", "", ""}, {"image", jpeg, "photo.jpg", "image/jpeg"}};
  const Json from_form = json_of(server.client().Post("/v1/predict", form), 200);
  EXPECT_EQ(from_form["faces"], direct["faces"]);
  EXPECT_EQ(from_form["image"], direct["image"]);
  // The format comes from the bytes: a PNG declared as a JPEG is a PNG, and octet-stream is any image.
  const std::string png = read_file(kFixtureImages + "/rgba.png");
  EXPECT_EQ(json_of(server.predict(png, "image/jpeg"), 200)["image"],
            json_of(server.predict(png, "application/octet-stream"), 200)["image"]);
}

TEST(ServeApi, A100MegabyteBodyIsRefusedUnread) {
  RunningServer server(box_crops());
  httplib::Client client = server.client();
  json_of(server.predict(read_file(kFixtureImages + "/photo_420.jpg")), 200);  // warm: the first answer's memory
  const double peak_before = peak_resident_mib();
  // 100 MB streamed with its Content-Length, so that neither side holds it whole.
  const std::size_t size = std::size_t{100} << 20;
  const std::string block(1 << 20, '\xFF');
  httplib::Result answer = client.Post(
      "/v1/predict", size,
      [&](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
        return sink.write(block.data(), std::min(length, block.size() - offset % block.size()));
      },
      "image/jpeg");
  expect_error(answer, 413, "larger than the upload limit of 20 MB");
  EXPECT_LT(peak_resident_mib() - peak_before, 20.0) << "the body was held in memory";
  // Without a Content-Length (chunked), the body is counted as it arrives.
  answer = server.client().Post(
      "/v1/predict",
      [&, sent = std::size_t{0}](std::size_t, httplib::DataSink& sink) mutable {
        if (sent >= (std::size_t{30} << 20)) return sink.done(), true;
        sent += block.size();
        return sink.write(block.data(), block.size());
      },
      "image/jpeg");
  expect_error(answer, 413, "larger than the upload limit");
  EXPECT_EQ(json_of(server.client().Get("/healthz"), 200)["status"], "ok");
}

TEST(ServeApi, APngBombIsRefusedFromItsHeader) {
  RunningServer server(box_crops());
  const std::string bomb = png_bomb(8192, 8192);
  ASSERT_LT(bomb.size(), std::size_t{2} << 20);
  const auto start = std::chrono::steady_clock::now();
  expect_error(server.predict(bomb, "image/png"), 400, "8192x8192, more than the limit of 16777216 pixels");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // The bomb is a real PNG: the same construction, small, decodes.
  const std::string small = png_bomb(64, 32);
  const data::Image decoded = data::decode_image(reinterpret_cast<const std::uint8_t*>(small.data()), small.size());
  EXPECT_EQ(decoded.width, 64);
  EXPECT_EQ(decoded.height, 32);
}

TEST(ServeApi, AFullQueueIs503AndEveryRequestIsAnswered) {
  RunningServer server(box_crops(), /*threads=*/1, /*queue=*/1);
  const std::string slow = gradient_jpeg(1200);  // face detection over 2400 x 2400 after one upsampling
  std::vector<std::future<httplib::Result>> answers;
  for (int i = 0; i < 8; ++i) answers.push_back(std::async(std::launch::async, [&] { return server.predict(slow); }));
  int ok = 0, busy = 0;
  for (auto& answer : answers) {
    const httplib::Result result = answer.get();
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    if (result->status == 503) {
      ++busy;
      EXPECT_EQ(result->get_header_value("Retry-After"), "1");
      expect_error(result, 503, "busy");
    } else {
      ++ok;
      EXPECT_EQ(json_of(result, 200)["faces"], Json::array());
    }
  }
  EXPECT_GE(ok, 2);  // the one being answered and the one waiting, at least
  EXPECT_GE(busy, 1);
  EXPECT_EQ(ok + busy, 8);
}

// The workers share one network: concurrent answers must be the serial ones, bit for bit, and bad requests among
// them change nothing. Whole images as face crops, so that the network runs on every image without real faces.
TEST(ServeApi, ConcurrentRequestsGetTheSerialAnswers) {
  apps::FaceAgeOptions whole_images;
  whole_images.tta_flip = true;
  RunningServer server(whole_images, /*threads=*/4, /*queue=*/64);
  std::vector<std::string> images;
  for (const char* name : {"photo_420.jpg", "photo_444.jpg", "photo_progressive.jpg", "gray.jpg", "rgba.png"}) {
    images.push_back(read_file(kFixtureImages + "/" + name));
  }
  images.push_back(gradient_jpeg(300));
  std::vector<std::string> serial;
  for (const std::string& image : images) serial.push_back(json_of(server.predict(image), 200)["faces"].dump());
  for (const std::string& faces : serial) EXPECT_NE(faces, "[]");

  std::vector<std::future<std::pair<int, std::string>>> answers;
  for (int i = 0; i < 48; ++i) {
    answers.push_back(std::async(std::launch::async, [&, i] {
      const bool bad = i % 4 == 3;  // a truncated image among the good ones
      const std::string& image = images[static_cast<std::size_t>(i) % images.size()];
      const httplib::Result result = server.predict(bad ? image.substr(0, image.size() / 3) : image);
      if (!result) return std::make_pair(-1, "client error: " + httplib::to_string(result.error()));
      const Json body = Json::parse(result->body);
      return std::make_pair(result->status, body.contains("faces") ? body["faces"].dump() : std::string());
    }));
  }
  for (int i = 0; i < 48; ++i) {
    const auto [status, faces] = answers[static_cast<std::size_t>(i)].get();
    if (i % 4 == 3) {
      EXPECT_EQ(status, 400) << "request " << i;
    } else {
      EXPECT_EQ(status, 200) << "request " << i;
      EXPECT_EQ(faces, serial[static_cast<std::size_t>(i) % images.size()]) << "request " << i;
    }
  }
}

// ---- real photos (../shared) with the shipped model's own crop ----

class ServePhotos : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFaces + "/2008_002470.jpg")) GTEST_SKIP() << "no photos in " << kFaces << " (../shared)";
    if (!fs::exists(kLandmarks)) GTEST_SKIP() << "not present: " << kLandmarks << " (scripts/get_pretrained.sh)";
  }
};

TEST_F(ServePhotos, GroupPhotoDogAndTheAnswersOfPredictAge) {
  RunningServer server(shipped_crops());
  // A group photo: six faces (as predict_age finds them), each boxed inside the image, with an age in range.
  const std::string group = kFaces + "/2008_002470.jpg";
  const Json answer = json_of(server.predict(read_file(group)), 200);
  ASSERT_EQ(answer["faces"].size(), 6u) << answer.dump();
  EXPECT_EQ(answer["image"], Json({{"width", 500}, {"height", 332}}));
  const apps::ImageAges expected = server.estimator().estimate(group);  // what predict_age prints
  for (std::size_t i = 0; i < 6; ++i) {
    const Json& face = answer["faces"][i];
    EXPECT_EQ(face, Json(apps::to_json(expected.faces[i]))) << i;
    const double age = face["age"];
    EXPECT_TRUE(age >= 0 && age <= 60) << age;
    EXPECT_GE(face["box"][0].get<int>(), 0);
    EXPECT_LE(face["box"][0].get<int>() + face["box"][2].get<int>(), 500);
  }
  // Another photo (two faces), and dogs: a 200 with an empty list, not an error.
  EXPECT_EQ(json_of(server.predict(read_file(kFaces + "/2008_001009.jpg")), 200)["faces"].size(), 2u);
  EXPECT_EQ(json_of(server.predict(read_file(kFaces + "/dogs.jpg")), 200)["faces"], Json::array());
}

}  // namespace
