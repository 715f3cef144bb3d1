// serve_age: a local web page and JSON API for the ages of the faces in photos, with the model edat ships or one
// train_resnet wrote (--weights). The model is loaded once and shared by --threads workers; at most --queue photos
// wait for one, and more are answered 503 (apps/serve/http_api.h lists the API and its errors).
//
//   serve_age                                   # http://127.0.0.1:8080/: the page; POST /v1/predict: the API
//   serve_age --port 0                          # any free port; the first line printed says which
//   curl -F image=@photo.jpg http://127.0.0.1:8080/v1/predict
//
// The flags that say how faces are found and cut are predict_age's (apps/face_age_flags.h), but --max-pixels is
// lower by default (serve::kDefaultMaxPixels says why).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "apps/face_age_flags.h"
#include "apps/serve/age_service.h"
#include "apps/serve/http_api.h"

using namespace edat;

int main(int argc, char** argv) {
  CLI::App app{
      "A web page and JSON API on this machine for the ages of the faces in photos (GET / in a browser;\n"
      "POST /v1/predict, GET /v1/model, GET /healthz), with the model edat ships or --weights."};
  apps::FaceAgeFlags flags;
  flags.options.max_pixels = serve::kDefaultMaxPixels;
  apps::add_face_age_flags(app, flags);
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int queue = 0;
  double max_upload_mb = 20;
  app.add_option("--host", host, "address to listen on (0.0.0.0: every interface; the default, this machine only)")
      ->capture_default_str();
  app.add_option("--port", port, "port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--threads", threads, "worker threads, each answering one photo at a time")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--queue", queue,
                 "photos that may wait for a worker; more are answered 503 (default: 4 per "
                 "thread)")
      ->check(CLI::Range(0, 4096));
  app.add_option("--max-upload-mb", max_upload_mb, "larger bodies are answered 413")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4096.0));
  CLI11_PARSE(app, argc, argv);
  if (!app.count("--queue")) queue = 4 * threads;

  // SIGINT and SIGTERM stop the server cleanly: blocked in every thread (threads inherit the mask), and awaited by
  // one that stops the server.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    std::vector<std::string> warnings;
    const std::unique_ptr<apps::FaceAgeEstimator> estimator = apps::load_estimator(app, flags, warnings);
    for (const std::string& warning : warnings) std::fprintf(stderr, "serve_age: warning: %s\n", warning.c_str());
    serve::AgeService service(*estimator, threads, static_cast<std::size_t>(queue));
    serve::HttpOptions http;
    http.max_upload_bytes = static_cast<std::size_t>(max_upload_mb * (1 << 20));
    serve::AgeServer server(service, serve::describe_model(*estimator, flags.weights_path), http);
    port = server.bind(host, port);
    std::printf("serve_age: listening on http://%s:%d/ (%s, %d threads, queue %d)\n", host.c_str(), port,
                estimator->description().arch.c_str(), threads, queue);
    std::fflush(stdout);
    std::thread stopper([&] {
      int signal = 0;
      sigwait(&stop_signals, &signal);
      server.stop();
    });
    const bool clean = server.run();
    if (stopper.joinable()) {
      pthread_kill(stopper.native_handle(), SIGTERM);  // when run() ended by itself, wake the waiting thread
      stopper.join();
    }
    std::fprintf(stderr, "serve_age: stopped\n");
    return clean ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve_age: error: %s\n", e.what());
    return 1;
  }
}
