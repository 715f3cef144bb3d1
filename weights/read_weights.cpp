#include "weights/read_weights.h"

#include <cstdio>

#include "weights/file_io.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

namespace edat::weights {

nn::NamedTensors read_weights(const std::string& path) {
  const std::vector<std::uint8_t> head = read_prefix(path, 9);
  if (head.size() >= 2 && head[0] == 'P' && head[1] == 'K') return read_pth(path);  // zip
  if (!head.empty() && head[0] == 0x80) return read_pth(path);                      // pickle PROTO: legacy .pth
  if (head.size() == 9 && head[8] == '{') return read_safetensors(path);
  EDAT_CHECK(!head.empty(), path << ": the file is empty");
  std::string shown;
  for (std::uint8_t byte : head) {
    char hex[4];
    std::snprintf(hex, sizeof hex, " %02x", byte);
    shown += hex;
  }
  throw Error(path + ": not a safetensors or PyTorch .pth file (it starts with bytes" + shown + ")");
}

}  // namespace edat::weights
