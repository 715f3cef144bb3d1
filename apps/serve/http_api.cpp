#include "apps/serve/http_api.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>

#include "apps/serve/page.h"
#include "data/decode.h"
#include "tensor/error.h"

namespace edat::serve {
namespace {

using Json = nlohmann::ordered_json;

void answer_json(httplib::Response& response, int status, const Json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

void answer_error(httplib::Response& response, int status, const std::string& message) {
  answer_json(response, status, {{"error", message}, {"status", status}});
}

// "image/jpeg" from "Image/JPEG; charset=binary".
std::string media_type(const std::string& content_type) {
  std::string type = content_type.substr(0, content_type.find(';'));
  type.erase(0, type.find_first_not_of(" \t"));
  type.erase(type.find_last_not_of(" \t") + 1);
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  return type;
}

// The declared types of an image the decoders may read (the format itself comes from the bytes); none declared is
// taken as octet-stream.
bool decodable_type(const std::string& type) {
  static constexpr std::array<const char*, 8> accepted = {
      "application/octet-stream", "image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/bmp",
      "image/x-ms-bmp",           "image/gif"};
  return type.empty() || std::find(accepted.begin(), accepted.end(), type) != accepted.end();
}

constexpr const char* kSendAs =
    "send a JPEG, PNG, BMP or GIF as the body (Content-Type image/jpeg, image/png, "
    "image/bmp, image/gif or application/octet-stream) or as a file of a "
    "multipart/form-data body";

// The message of an error answer whose handler wrote none (httplib's own 400, 404 and 413).
std::string status_message(int status, std::size_t max_upload_bytes) {
  switch (status) {
    case 400:
      return "bad request: the request or its body could not be read";
    case 404:
      return "no such page: the API is GET /, GET /healthz, GET /v1/model and POST /v1/predict";
    case 413:
      return "the body is larger than the upload limit of " + std::to_string(max_upload_bytes >> 20) +
             " MB (serve_age --max-upload-mb)";
    default:
      return "HTTP status " + std::to_string(status);
  }
}

double rounded_ms(std::chrono::steady_clock::duration elapsed) {
  return std::round(std::chrono::duration<double, std::milli>(elapsed).count() * 10) / 10;
}

}  // namespace

AgeServer::AgeServer(AgeService& service, Json model, const HttpOptions& options)
    : service_(service), model_(std::move(model)), options_(options) {
  for (const char* key : {"weights", "architecture", "input_size", "face_crop", "tta"}) {
    if (model_.contains(key)) model_summary_[key] = model_[key];
  }
  const std::size_t connection_threads = options_.connection_threads
                                             ? options_.connection_threads
                                             : 2 * (service_.threads() + service_.queue_capacity()) + 4;
  http_.new_task_queue = [connection_threads] { return new httplib::ThreadPool(connection_threads); };
  // A body over the limit with a Content-Length is refused before it is read into memory (httplib reads it past);
  // a chunked one is counted as it arrives (predict).
  http_.set_payload_max_length(options_.max_upload_bytes);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server on a port in use binds too
  // and the kernel shares the connections out between the two.
  http_.set_socket_options([this](socket_t socket) {
    const int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening_socket_ = socket;
  });
  http_.set_default_headers({{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}});

  http_.Get("/", [](const httplib::Request&, httplib::Response& response) {
    // The page needs nothing from elsewhere, and the browser is told to load nothing from elsewhere.
    response.set_header("Content-Security-Policy",
                        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                        "img-src blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'");
    response.set_content(kPage, "text/html; charset=utf-8");
  });
  http_.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    answer_json(response, 200, {{"status", "ok"}});
  });
  http_.Get("/v1/model", [this](const httplib::Request&, httplib::Response& response) {
    Json answer = model_;
    answer["server"] = {{"threads", service_.threads()},
                        {"queue", service_.queue_capacity()},
                        {"max_upload_mb", options_.max_upload_bytes >> 20}};
    answer_json(response, 200, answer);
  });
  http_.Post("/v1/predict", [this](const httplib::Request& request, httplib::Response& response,
                                   const httplib::ContentReader& read) { predict(request, response, read); });

  http_.set_error_handler(
      httplib::Server::HandlerWithResponse([this](const httplib::Request&, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a handler's JSON already
        answer_error(response, response.status, status_message(response.status, options_.max_upload_bytes));
        return httplib::Server::HandlerResponse::Handled;
      }));
  http_.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
    std::string what = "an unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    answer_error(response, 500, "the server failed: " + what);
  });
}

int AgeServer::bind(const std::string& host, int port) {
  const bool bound = port == 0 ? (port = http_.bind_to_any_port(host)) > 0 : http_.bind_to_port(host, port);
  EDAT_CHECK(bound, "serve_age: cannot listen on " << host << ":" << port << " (in use, or not an address here)");
  // Debian's httplib library listens with a backlog of 5: in a burst of clients, connections beyond it were reset
  // while the workers kept the cores busy (ServeApi.ConcurrentRequestsGetTheSerialAnswers, 48 at once, failed one
  // run in three with "Read" errors). listen() again on the bound socket widens the queue (Linux allows it).
  if (listening_socket_ != INVALID_SOCKET) ::listen(listening_socket_, SOMAXCONN);
  return port;
}

bool AgeServer::run() { return http_.listen_after_bind(); }

void AgeServer::predict(const httplib::Request& request, httplib::Response& response,
                        const httplib::ContentReader& read) {
  // The body, counted as it arrives: a chunked body has no Content-Length for httplib to check. Past the limit the
  // rest is read and dropped, so that the client, still sending, gets its 413 rather than a reset connection; past
  // four times the limit the connection is cut.
  std::string image, declared_type = request.get_header_value("Content-Type");
  std::size_t received = 0;
  bool too_large = false;
  auto take = [&](const char* data, std::size_t size, bool keep) {
    received += size;
    too_large = received > options_.max_upload_bytes;
    if (too_large) return received <= 4 * options_.max_upload_bytes;
    if (keep) image.append(data, size);
    return true;
  };
  bool read_whole = false, found_file = true;
  if (request.is_multipart_form_data()) {
    // The first file of the form (a field named "image" or any with a file name) is the image.
    bool in_file = false;
    found_file = false;
    read_whole = read(
        [&](const httplib::MultipartFormData& part) {
          in_file = !found_file && (part.name == "image" || !part.filename.empty());
          if (in_file) found_file = true, declared_type = part.content_type;
          return true;
        },
        [&](const char* data, std::size_t size) { return take(data, size, in_file); });
  } else {
    read_whole = read([&](const char* data, std::size_t size) { return take(data, size, true); });
  }
  if (too_large || response.status == 413) {  // ours, or httplib's from the Content-Length
    return answer_error(response, 413, status_message(413, options_.max_upload_bytes));
  }
  if (!read_whole) {
    return answer_error(response, 400,
                        "the body could not be read (a malformed multipart/form-data body, or the "
                        "connection ended early)");
  }
  if (!found_file) {
    return answer_error(response, 400, "the multipart/form-data body has no file: " + std::string(kSendAs));
  }
  const std::string type = media_type(declared_type);
  if (!decodable_type(type)) {
    return answer_error(response, 415, "unsupported content type '" + type + "': " + kSendAs);
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(image.data());
  if (image.empty()) return answer_error(response, 400, "the image is empty (0 bytes): " + std::string(kSendAs));
  if (data::sniff_format(bytes, image.size()) == data::ImageFormat::other) {
    return answer_error(response, 415, "the body is not a JPEG, PNG, BMP or GIF image: " + std::string(kSendAs));
  }

  const auto start = std::chrono::steady_clock::now();
  std::optional<std::future<apps::ImageAges>> pending = service_.submit(std::move(image), "<upload>");
  if (!pending) {
    response.set_header("Retry-After", "1");
    return answer_error(response, 503,
                        "busy: " + std::to_string(service_.threads()) + " images are being answered and " +
                            std::to_string(service_.queue_capacity()) + " wait; try again in a moment");
  }
  const apps::ImageAges result = pending->get();
  using Failure = apps::ImageAges::Failure;
  if (result.failure == Failure::bad_image) return answer_error(response, 400, result.error);
  if (result.failure == Failure::internal) return answer_error(response, 500, "the server failed: " + result.error);
  Json faces = Json::array();  // none for Failure::no_face: a photo without a face is an answer, not an error
  for (const apps::FaceAge& face : result.faces) faces.push_back(apps::to_json(face));
  answer_json(response, 200,
              {{"faces", faces},
               {"image", {{"width", result.width}, {"height", result.height}}},
               {"model", model_summary_},
               {"ms", rounded_ms(std::chrono::steady_clock::now() - start)}});
}

}  // namespace edat::serve
