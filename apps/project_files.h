// The files that ship with edat (trained-models/) or that its scripts fetch (pretrained/), found under the source
// tree this build was configured from (EDAT_PROJECT_DIR, set in apps/CMakeLists.txt), so that the apps find them
// from any working directory.
#pragma once
#include <string>

namespace edat::apps {

// The age model edat ships, trained by scripts/train_release_model.sh (docs/model_card.md): predict_age's default.
inline constexpr const char* kShippedModel = "trained-models/age_mobilenet_v2_utkface.safetensors";

inline std::string project_file(const std::string& relative) { return std::string(EDAT_PROJECT_DIR) + "/" + relative; }

}  // namespace edat::apps
