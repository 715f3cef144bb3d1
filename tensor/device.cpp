#include "tensor/device.h"

#include <cctype>

#include "tensor/error.h"

namespace edat {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() < 9) {
    bool digits = true;
    for (std::size_t i = 5; i < text.size(); ++i) digits = digits && std::isdigit(static_cast<unsigned char>(text[i]));
    if (digits) return cuda(std::stoi(text.substr(5)));
  }
  throw Error("unknown device '" + text + "': expected cpu, cuda or cuda:N");
}

}  // namespace edat
