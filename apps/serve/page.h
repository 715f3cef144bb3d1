// The page serve_age answers GET / with: page.html, embedded at build time (CMakeLists.txt writes page.cpp).
#pragma once

namespace edat::serve {

extern const char* const kPage;

}  // namespace edat::serve
