// The implementations of stb_image (decoding PNG, BMP, GIF) and stb_image_write (PNG/BMP output), compiled once
// for the whole tree. Only formats with a magic number are enabled: TGA has none (stb would read some text files as
// TGA images), JPEG goes to TurboJPEG, and every other decoder is attack surface we do not need (the fuzzer found a
// heap overflow in stb 2.27's 16-bit PNM reader).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
