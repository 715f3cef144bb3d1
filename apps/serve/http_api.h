// serve_age's HTTP API over an AgeService (cpp-httplib):
//   GET  /            the page (page.html: choose or drop a photo, see its faces boxed with their ages)
//   POST /v1/predict  an image as the body (image/jpeg, image/png, image/bmp, image/gif, application/octet-stream)
//                     or as a file of a multipart/form-data body ->
//                     {"faces": [{"box": [x, y, w, h], "score", "age"}], "image": {"width", "height"},
//                      "model": {...}, "ms": ...}
//   GET  /v1/model    the model: architecture, input size, age range, face crop, training metrics (describe_model)
//   GET  /healthz     {"status": "ok"} while the server runs
// Every error is JSON {"error": "...", "status": N}: 400 an empty or undecodable image (or a malformed body), 413 a
// body over the upload limit (refused from its Content-Length before it is read into memory), 415 a content type or
// image format edat does not decode, 503 when the queue is full (with Retry-After), 404 an unknown path, 500 a
// failure of the server itself. A photo without a face is a 200 with no faces.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/serve/age_service.h"

namespace edat::serve {

struct HttpOptions {
  std::size_t max_upload_bytes = std::size_t{20} << 20;  // --max-upload-mb
  // Threads that read requests and write answers (cpp-httplib's pool); each waits for its image's worker. 0: enough
  // for every worker and every queued image twice over (keep-alive connections hold a thread while idle), plus a
  // few for the page, /healthz and 503 answers.
  std::size_t connection_threads = 0;
};

class AgeServer {
 public:
  // `model` is what GET /v1/model answers (describe_model); `service` must outlive the server.
  AgeServer(AgeService& service, nlohmann::ordered_json model, const HttpOptions& options);

  // Binds host:port (port 0: a free port, which is returned). Throws edat::Error when the address is taken.
  int bind(const std::string& host, int port);
  // Answers requests until stop() (from another thread); false when it stopped on an error.
  bool run();
  void stop() { http_.stop(); }
  bool running() const { return http_.is_running(); }

 private:
  void predict(const httplib::Request& request, httplib::Response& response, const httplib::ContentReader& read);

  AgeService& service_;
  nlohmann::ordered_json model_;
  nlohmann::ordered_json model_summary_;  // the part of model_ each prediction repeats
  HttpOptions options_;
  httplib::Server http_;
  socket_t listening_socket_ = INVALID_SOCKET;  // the server's socket, as httplib creates it (bind() widens its backlog)
};

}  // namespace edat::serve
