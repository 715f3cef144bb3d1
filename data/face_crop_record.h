// How a dataset's images were cut out of photos. crop_faces writes it into its output folder (face_crop.txt),
// train_resnet carries it into the weights it writes (edat.face_crop), and predict_age cuts faces out of photos the
// same way by default. One line of text:
//   none                  the images were used as they are (a dataset of ready-made face crops, or unknown)
//   box margin=0.4        the detector's box plus a margin on each side (data/faces/face_crop.h)
//   aligned padding=0.2   dlib's aligned chip (data/faces/face_aligner.h)
#pragma once

#include <filesystem>
#include <string>

namespace edat::data {

inline constexpr const char* kFaceCropFile = "face_crop.txt";

struct FaceCropRecord {
  enum class Method { none, box, aligned };
  Method method = Method::none;
  double margin = 0;   // box
  double padding = 0;  // aligned

  std::string text() const;
  // edat::Error naming `source` when the text is none of the three forms.
  static FaceCropRecord parse(const std::string& text, const std::string& source);
  bool operator==(const FaceCropRecord&) const = default;
};

// The record in `folder`/face_crop.txt, or none when there is no such file.
FaceCropRecord read_face_crop_record(const std::filesystem::path& folder);
void write_face_crop_record(const std::filesystem::path& folder, const FaceCropRecord& record);

}  // namespace edat::data
