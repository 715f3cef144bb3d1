// serve_load: N clients post photos to a running serve_age for a bounded time, each as fast as it is answered,
// and report the throughput, the latency percentiles and the answers by status; with --server-pid, the server's
// resident memory too (sampled every 50 ms: at the end of the warm-up, its peak, and at the end), to show it does
// not grow over the run. bench/run_serve_load.sh starts the server and runs it.
//
//   serve_load --port 8080 --image a.jpg --image b.jpg --clients 4 --seconds 30 [--warmup 3] [--server-pid PID]
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("serve_load: cannot read " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// VmRSS of a process in MiB (0 when it cannot be read).
double resident_mib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return 0;
}

double percentile(std::vector<double> sorted, double p) {
  if (sorted.empty()) return 0;
  std::sort(sorted.begin(), sorted.end());
  const auto index = static_cast<std::size_t>(p / 100 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Load on a running serve_age: N clients posting photos for a bounded time."};
  std::string host = "127.0.0.1";
  int port = 8080, clients = 4, server_pid = 0;
  double seconds = 30, warmup = 3;
  std::vector<std::string> image_paths;
  app.add_option("--host", host)->capture_default_str();
  app.add_option("--port", port)->required();
  app.add_option("--image", image_paths, "photos to post, in turn (JPEG)")->required();
  app.add_option("--clients", clients, "concurrent clients")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--seconds", seconds, "measured time")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "seconds of load before measuring")->capture_default_str();
  app.add_option("--server-pid", server_pid, "the server's process, to sample its memory");
  CLI11_PARSE(app, argc, argv);
  std::vector<std::string> images;
  for (const std::string& path : image_paths) images.push_back(read_file(path));

  const Clock::time_point start = Clock::now();
  const Clock::time_point measure_from =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  const Clock::time_point stop_at =
      measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::mutex mutex;
  std::vector<double> latencies_ms;  // of 200 answers in the measured time
  std::map<int, long> by_status;     // in the measured time; -1: no answer (connection failed)
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client(host, port);
      client.set_read_timeout(120, 0);
      for (std::size_t n = static_cast<std::size_t>(c); Clock::now() < stop_at; ++n) {
        const std::string& body = images[n % images.size()];
        const Clock::time_point sent = Clock::now();
        const httplib::Result answer = client.Post("/v1/predict", body, "image/jpeg");
        const Clock::time_point received = Clock::now();
        if (sent < measure_from || received > stop_at) continue;
        std::lock_guard<std::mutex> lock(mutex);
        const int status = answer ? answer->status : -1;
        ++by_status[status];
        if (status == 200) latencies_ms.push_back(std::chrono::duration<double, std::milli>(received - sent).count());
      }
    });
  }
  double rss_after_warmup = 0, rss_peak = 0, rss_end = 0;
  if (server_pid > 0) {
    while (Clock::now() < stop_at) {
      const double rss = resident_mib(server_pid);
      if (rss_after_warmup == 0 && Clock::now() >= measure_from) rss_after_warmup = rss;
      rss_peak = std::max(rss_peak, rss), rss_end = rss;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  for (std::thread& thread : threads) thread.join();

  long answered = 0;
  std::string statuses;
  for (const auto& [status, count] : by_status) {
    answered += count;
    statuses += " " + (status < 0 ? std::string("failed") : std::to_string(status)) + ":" + std::to_string(count);
  }
  std::printf("clients %d, %.0f s measured after %.0f s of warm-up: %ld answers (%s )\n", clients, seconds, warmup,
              answered, statuses.c_str() + 0);
  std::printf("requests/s %.2f (200s only), latency ms p50 %.0f, p90 %.0f, p99 %.0f, max %.0f\n",
              static_cast<double>(latencies_ms.size()) / seconds, percentile(latencies_ms, 50),
              percentile(latencies_ms, 90), percentile(latencies_ms, 99), percentile(latencies_ms, 100));
  if (server_pid > 0) {
    std::printf("server RSS MiB: %.1f after warm-up, %.1f peak, %.1f at the end\n", rss_after_warmup, rss_peak,
                rss_end);
  }
  return by_status.size() == 1 && by_status.count(200) ? 0 : 1;
}
