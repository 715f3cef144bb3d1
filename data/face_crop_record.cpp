#include "data/face_crop_record.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace edat::data {

std::string FaceCropRecord::text() const {
  char buffer[64];
  switch (method) {
    case Method::box:
      std::snprintf(buffer, sizeof buffer, "box margin=%g", margin);
      return buffer;
    case Method::aligned:
      std::snprintf(buffer, sizeof buffer, "aligned padding=%g", padding);
      return buffer;
    case Method::none:
      break;
  }
  return "none";
}

FaceCropRecord FaceCropRecord::parse(const std::string& text, const std::string& source) {
  FaceCropRecord record;
  std::istringstream in(text);
  std::string method, setting, rest;
  in >> method >> setting >> rest;
  const auto value = [&](const std::string& name, double& out) {
    const std::string prefix = name + "=";
    char* end = nullptr;
    if (setting.rfind(prefix, 0) == 0 && setting.size() > prefix.size()) {
      out = std::strtod(setting.c_str() + prefix.size(), &end);
      if (*end == '\0' && out >= 0) return true;
    }
    return false;
  };
  if (method == "none" && setting.empty()) return record;
  if (method == "box" && value("margin", record.margin) && rest.empty()) {
    record.method = Method::box;
    return record;
  }
  if (method == "aligned" && value("padding", record.padding) && rest.empty()) {
    record.method = Method::aligned;
    return record;
  }
  throw Error(source + ": face crop '" + text +
              "' is none of 'none', 'box margin=M', 'aligned padding=P' (data/face_crop_record.h)");
}

FaceCropRecord read_face_crop_record(const std::filesystem::path& folder) {
  const std::filesystem::path file = folder / kFaceCropFile;
  std::ifstream in(file);
  if (!in) return {};
  std::string line;
  std::getline(in, line);
  return FaceCropRecord::parse(line, file.string());
}

void write_face_crop_record(const std::filesystem::path& folder, const FaceCropRecord& record) {
  const std::filesystem::path file = folder / kFaceCropFile;
  std::ofstream(file) << record.text() << "\n";
  EDAT_CHECK(std::filesystem::exists(file), "cannot write '" << file.string() << "'");
}

}  // namespace edat::data
