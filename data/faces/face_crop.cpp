// crop_face and the crop_faces pipeline (see face_crop.h). Workers take images by an atomic counter, each with
// its own FaceDetector; results land in per-image slots, so the CSVs list the crops in the input's order whatever
// the thread count.
#include "data/faces/face_crop.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "data/csv.h"
#include "data/decode.h"
#include "data/encode.h"
#include "data/face_crop_record.h"
#include "data/transforms.h"
#include "tensor/error.h"

namespace edat::data {

namespace fs = std::filesystem;

Image crop_face(const Image& image, const FaceBox& box, double margin, int size) {
  EDAT_CHECK(!image.empty() && box.width > 0 && box.height > 0 && size > 0 && margin >= 0,
             "crop_face: needs an image, a non-empty box, size > 0 and margin >= 0");
  const double side_f = std::max(box.width, box.height) * (1 + 2 * margin);
  const int side = std::max(1, static_cast<int>(std::lround(side_f)));
  const int left = static_cast<int>(std::lround(box.left + box.width / 2.0 - side / 2.0));
  const int top = static_cast<int>(std::lround(box.top + box.height / 2.0 - side / 2.0));
  const int pad_left = std::max(0, -left), pad_top = std::max(0, -top);
  const int pad_right = std::max(0, left + side - image.width), pad_bottom = std::max(0, top + side - image.height);
  Image square;
  if (pad_left || pad_top || pad_right || pad_bottom) {
    // A face near the border: repeat the edge rather than frame the crop in black. (pad needs each pad smaller
    // than the image only for reflect modes; edge has no limit.)
    square = crop(pad(image, pad_left, pad_top, pad_right, pad_bottom, PadMode::edge), top + pad_top, left + pad_left,
                  side, side);
  } else {
    square = crop(image, top, left, side, side);
  }
  return resize(square, size, size);
}

namespace {

enum class Outcome { pending, kept, no_face, multi_face, unreadable };

struct Slot {
  Outcome outcome = Outcome::pending;
  FaceBox box;
  std::string crop_path;  // relative to options.out
  std::string problem;
};

// Where the crop of `source` goes, relative to the output folder: its path under the data root, as .jpg.
fs::path crop_name(const std::string& source, const std::string& data_root) {
  fs::path relative = fs::path(source).filename();
  if (!data_root.empty()) {
    const fs::path r = fs::path(source).lexically_relative(data_root);
    if (!r.empty() && *r.begin() != "..") relative = r;
  }
  std::string ext = relative.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext != ".jpg" && ext != ".jpeg") relative += ".jpg";
  return relative;
}

std::string age_text(float age) {
  if (!std::isfinite(age)) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(age));
  return text;
}

}  // namespace

CropFacesReport crop_faces(const Dataset& input, const CropFacesOptions& options) {
  EDAT_CHECK(!options.out.empty(), "crop_faces: no output folder given");
  EDAT_CHECK(options.workers >= 1, "crop_faces: workers must be >= 1, got " << options.workers);
  const std::size_t n = input.size();
  std::vector<Slot> slots(n);
  std::set<fs::path> folders = {fs::path(options.out)};
  for (std::size_t i = 0; i < n; ++i) {
    slots[i].crop_path = crop_name(input.sample(i).path, options.data_root).generic_string();
    folders.insert((fs::path(options.out) / slots[i].crop_path).parent_path());
  }
  for (const fs::path& folder : folders) fs::create_directories(folder);  // before the threads, once each

  const FaceDetector prototype(options.upsample);
  std::unique_ptr<FaceAligner> aligner;  // shared: dlib's shape predictor is const and thread-safe
  if (!options.align_landmarks.empty()) aligner = std::make_unique<FaceAligner>(options.align_landmarks);
  // With progress on, this thread watches and every worker is a thread; otherwise this thread is one of them.
  const std::size_t workers = std::clamp<std::size_t>(options.workers, 1, std::max<std::size_t>(n, 1));
  std::atomic<std::size_t> next{0}, done{0}, running{workers};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  const auto work = [&] {
    FaceDetector detector(prototype);
    for (std::size_t i; (i = next.fetch_add(1)) < n; done.fetch_add(1)) {
      Slot& slot = slots[i];
      try {
        Image image;
        try {
          image = decode_image_file(input.sample(i).path);
        } catch (const DecodeError& e) {
          slot.outcome = Outcome::unreadable, slot.problem = e.what();
          continue;
        }
        const std::vector<FaceBox> faces = detector.detect(image);
        if (faces.size() != 1) {
          slot.outcome = faces.empty() ? Outcome::no_face : Outcome::multi_face;
          continue;
        }
        slot.box = faces[0];
        const Image crop = aligner ? aligner->align(image, faces[0], options.size, options.chip_padding)
                                   : crop_face(image, faces[0], options.margin, options.size);
        write_image((fs::path(options.out) / slot.crop_path).string(), crop, options.jpeg_quality);
        slot.outcome = Outcome::kept;
      } catch (...) {  // a write failure or a bug: stop everyone, rethrow on the calling thread
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next.store(n);
      }
    }
    running.fetch_sub(1);
  };
  std::vector<std::thread> threads;
  for (std::size_t t = options.progress ? 0 : 1; t < workers; ++t) threads.emplace_back(work);
  if (!options.progress) work();
  for (auto last = std::chrono::steady_clock::now(); options.progress && running.load() > 0;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() - last > std::chrono::seconds(10)) {
      std::fprintf(stderr, "crop_faces: %zu / %zu images\n", done.load(), n);
      last = std::chrono::steady_clock::now();
    }
  }
  for (std::thread& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);

  // The report and the CSVs, in the input's order.
  CropFacesReport report;
  report.images = n;
  std::string csv = "path,age,source,face_left,face_top,face_width,face_height,score\n";
  for (std::size_t i = 0; i < n; ++i) {
    const Slot& slot = slots[i];
    const Sample& source = input.sample(i);
    switch (slot.outcome) {
      case Outcome::kept: {
        ++report.kept;
        Sample crop = source;
        crop.path = (fs::path(options.out) / slot.crop_path).string();
        report.crops.push_back(crop);
        append_csv_field(csv, slot.crop_path);
        csv += "," + age_text(source.age) + ",";
        append_csv_field(csv, source.path);
        char box[96];
        std::snprintf(box, sizeof box, ",%d,%d,%d,%d,%.3f\n", slot.box.left, slot.box.top, slot.box.width,
                      slot.box.height, slot.box.score);
        csv += box;
        break;
      }
      case Outcome::no_face:
        ++report.no_face;
        break;
      case Outcome::multi_face:
        ++report.multi_face;
        break;
      case Outcome::unreadable:
        ++report.unreadable;
        if (report.unreadable_examples.size() < 5) report.unreadable_examples.push_back(slot.problem);
        break;
      case Outcome::pending:
        break;
    }
  }
  FaceCropRecord record{.method = FaceCropRecord::Method::box, .margin = options.margin, .padding = 0};
  if (aligner) record = {.method = FaceCropRecord::Method::aligned, .margin = 0, .padding = options.chip_padding};
  write_face_crop_record(options.out, record);  // train_resnet carries it into the weights
  const fs::path csv_file = fs::path(options.out) / "faces.csv";
  std::ofstream(csv_file, std::ios::binary) << csv;
  EDAT_CHECK(fs::exists(csv_file), "crop_faces: cannot write '" << csv_file.string() << "'");

  if (options.split) {
    const ListDataset kept("crops", report.crops);
    const SplitIndices parts = split_dataset(kept, *options.split, options.seed, options.split_by_group);
    write_samples_csv(fs::path(options.out) / "train.csv", select_samples(kept, parts.train), options.out);
    write_samples_csv(fs::path(options.out) / "valid.csv", select_samples(kept, parts.valid), options.out);
    write_samples_csv(fs::path(options.out) / "test.csv", select_samples(kept, parts.test), options.out);
  }
  return report;
}

}  // namespace edat::data
