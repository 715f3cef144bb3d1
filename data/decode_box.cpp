// Decoding one box of an image (decode.h, decode_image_box). JPEGs go through libjpeg's own API, which can skip
// rows (jpeg_skip_scanlines) and convert only some columns (jpeg_crop_scanline); TurboJPEG 2.1, which decodes
// whole images in decode.cpp, cannot (3.0's tj3SetCroppingRegion could). Both are libjpeg-turbo with the same
// settings (accurate integer IDCT, smooth chroma upsampling unless fast_upsampling), so the box's pixels are those
// of the whole decode; tests/test_decode_box.cpp checks that for every subsampling, progressive files, DCT scaling
// and real faces.
#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <vector>

// jpeglib.h needs FILE and size_t declared before it.
// clang-format off
#include <cstdio>
#include <jpeglib.h>
// clang-format on

#include "data/decode_internal.h"

namespace edat::data {
namespace {

using detail::fail;

// libjpeg reports an error by calling error_exit, which must not return, and C++ exceptions must not unwind
// through libjpeg's C frames: error_exit jumps back to the setjmp in Decompressor::call, which throws from there.
// Warnings (corrupt or missing data, which libjpeg fills with grey) are counted, as TurboJPEG does.
struct ErrorManager {
  jpeg_error_mgr pub{};  // first member: libjpeg hands callbacks a jpeg_error_mgr*
  std::jmp_buf jump{};
  char message[JMSG_LENGTH_MAX] = "";
  int warnings = 0;
  char first_warning[JMSG_LENGTH_MAX] = "";
};

void error_exit(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

void emit_message(j_common_ptr cinfo, int level) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (level < 0 && errors->warnings++ == 0) (*cinfo->err->format_message)(cinfo, errors->first_warning);
}

// TurboJPEG's TJFLAG_LIMITSCANS: a hostile progressive file can hold thousands of scans and take minutes.
constexpr int kMaxScans = 500;
void limit_scans(j_common_ptr cinfo) {
  const auto* jpeg = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (jpeg->input_scan_number > kMaxScans) {
    auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(errors->message, sizeof errors->message, "more than %d progressive scans", kMaxScans);
    std::longjmp(errors->jump, 1);
  }
}

// Runs libjpeg calls, turning its errors into DecodeError naming the file.
class Decompressor {
 public:
  Decompressor(const std::uint8_t* data, std::size_t size, const std::string& name) : name_(name) {
    jpeg_.err = jpeg_std_error(&errors_.pub);
    errors_.pub.error_exit = error_exit;
    errors_.pub.emit_message = emit_message;
    progress_.progress_monitor = limit_scans;
    call("cannot start libjpeg", [&](j_decompress_ptr jpeg) {
      jpeg_create_decompress(jpeg);
      created_ = true;
      jpeg_mem_src(jpeg, data, static_cast<unsigned long>(size));
    });
    jpeg_.progress = &progress_;
  }
  ~Decompressor() {
    if (created_) jpeg_destroy_decompress(&jpeg_);
  }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // f(&jpeg), a libjpeg error becoming DecodeError("... WHAT (libjpeg's message)"). f must not own anything that
  // needs a destructor: an error jumps out of it.
  template <class F>
  void call(const char* what, F&& f) {
    if (setjmp(errors_.jump) != 0) fail(name_, std::string(what) + " (" + errors_.message + ")");
    f(&jpeg_);
  }
  // Refuses the image if libjpeg warned so far, unless warnings are accepted.
  void check_warnings(const DecodeOptions& options) const {
    if (errors_.warnings > 0 && !options.accept_jpeg_warnings) {
      fail(name_, std::string("corrupt or truncated JPEG data (") + errors_.first_warning + ")");
    }
  }
  jpeg_decompress_struct& jpeg() { return jpeg_; }

 private:
  std::string name_;
  jpeg_decompress_struct jpeg_{};
  ErrorManager errors_;
  jpeg_progress_mgr progress_{};
  bool created_ = false;
};

// A chooser's box outside the image is a caller's bug, not a bad file: edat::Error, not DecodeError.
void check_box_inside(const Box& box, int width, int height, const std::string& name) {
  EDAT_CHECK(box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0 && box.left + box.width <= width &&
                 box.top + box.height <= height,
             "decode_image_box: box " << box.width << "x" << box.height << " at (" << box.left << ", " << box.top
                                      << ") is not inside " << name << " (" << width << "x" << height << ")");
}

// Entropy-coded data cannot hold the bytes FF D9 (an FF in it is followed by 00 or a restart marker), so a file
// without them after the first scan starts was cut short: its end-of-image marker is missing.
bool has_end_marker(const std::uint8_t* from, std::size_t size) {
  static constexpr std::uint8_t kEoi[2] = {0xFF, 0xD9};
  return std::search(from, from + size, kEoi, kEoi + 2) != from + size;
}

// The smooth (fancy) chroma upsampling computes a pixel from its chroma sample and the neighbouring one, up to two
// pixels away: decoding that much around the box keeps its edge pixels equal to the whole decode's.
constexpr int kUpsamplingContext = 2;

Image decode_jpeg_box(const std::uint8_t* data, std::size_t size, const BoxChooser& choose,
                      const DecodeOptions& options, const std::string& name) {
  Decompressor decompressor(data, size, name);
  jpeg_decompress_struct& jpeg = decompressor.jpeg();
  int header = 0;
  decompressor.call("bad JPEG header", [&](j_decompress_ptr j) { header = jpeg_read_header(j, TRUE); });
  if (header != JPEG_HEADER_OK || jpeg.image_width == 0 || jpeg.image_height == 0) {
    fail(name, "bad JPEG header (no image frame: the file is truncated)");
  }
  decompressor.check_warnings(options);
  // The source manager now points at the first scan's data.
  if (!has_end_marker(jpeg.src->next_input_byte, jpeg.src->bytes_in_buffer) && !options.accept_jpeg_warnings) {
    fail(name, "corrupt or truncated JPEG data (the end-of-image marker is missing)");
  }

  const bool cmyk = jpeg.jpeg_color_space == JCS_CMYK || jpeg.jpeg_color_space == JCS_YCCK;
  jpeg.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // gray replicates into R, G and B
  jpeg.dct_method = JDCT_ISLOW;
  jpeg.do_fancy_upsampling = options.fast_upsampling ? FALSE : TRUE;
  const JpegInfo scale = detail::checked_jpeg_scale(jpeg.image_width, jpeg.image_height, options, name);
  jpeg.scale_num = 1;
  jpeg.scale_denom = static_cast<unsigned>(scale.scale_denominator);
  decompressor.call("bad JPEG header", [](j_decompress_ptr j) { jpeg_calc_output_dimensions(j); });
  const int width = static_cast<int>(jpeg.output_width), height = static_cast<int>(jpeg.output_height);

  const Box box = choose(width, height).value_or(Box{0, 0, height, width});
  check_box_inside(box, width, height, name);

  // Columns [first_column, first_column + columns) come out of libjpeg; it widens them leftwards to a block edge.
  JDIMENSION first_column = static_cast<JDIMENSION>(std::max(box.left - kUpsamplingContext, 0));
  JDIMENSION columns =
      static_cast<JDIMENSION>(std::min(box.left + box.width + kUpsamplingContext, width)) - first_column;
  const int first_row = std::max(box.top - kUpsamplingContext, 0);
  decompressor.call("bad JPEG data", [&](j_decompress_ptr j) {
    jpeg_start_decompress(j);
    if (columns < j->output_width) jpeg_crop_scanline(j, &first_column, &columns);
    if (first_row > 0) jpeg_skip_scanlines(j, static_cast<JDIMENSION>(first_row));
  });

  const int components = cmyk ? 4 : 3;
  // libjpeg-turbo's SIMD colour conversion writes a row that starts on a 16-byte (SSE2) or 32-byte (AVX2) boundary
  // with non-temporal stores, which send it to memory, past the cache: copying the box out of it right after then
  // waits on memory for every line (that copy took a fifth of the loader's time). The allocator returns 16-byte
  // aligned memory, so one byte past its start is on neither boundary and the row is written normally.
  std::vector<std::uint8_t> row_storage(static_cast<std::size_t>(columns) * components + 1);
  std::uint8_t* row = row_storage.data() + 1;
  const std::size_t skip_bytes = static_cast<std::size_t>(box.left - static_cast<int>(first_column)) * components;
  Image out(box.width, box.height);
  for (int y = first_row; y < box.top + box.height; ++y) {
    JSAMPROW rows[1] = {row};
    decompressor.call("bad JPEG data", [&](j_decompress_ptr j) { jpeg_read_scanlines(j, rows, 1); });
    if (y < box.top) continue;  // context rows above the box
    std::uint8_t* target = out.row(y - box.top);
    if (cmyk) {
      detail::cmyk_to_rgb(row + skip_bytes, static_cast<std::size_t>(box.width), target);
    } else {
      std::memcpy(target, row + skip_bytes, static_cast<std::size_t>(box.width) * 3);
    }
  }
  decompressor.check_warnings(options);
  jpeg_abort_decompress(&jpeg);  // the rows below the box are never decoded
  return out;
}

}  // namespace

Image decode_image_box(const std::uint8_t* data, std::size_t size, const BoxChooser& choose,
                       const DecodeOptions& options, const std::string& name) {
  if (size > 0 && sniff_format(data, size) == ImageFormat::jpeg)
    return decode_jpeg_box(data, size, choose, options, name);
  Image whole = decode_image(data, size, options, name);
  const std::optional<Box> box = choose(whole.width, whole.height);
  if (!box || (box->width == whole.width && box->height == whole.height)) return whole;
  check_box_inside(*box, whole.width, whole.height, name);
  Image out(box->width, box->height);
  for (int y = 0; y < box->height; ++y) {
    std::memcpy(out.row(y), whole.row(box->top + y) + 3 * box->left, static_cast<std::size_t>(box->width) * 3);
  }
  return out;
}

Image decode_image_file_box(const std::string& path, const BoxChooser& choose, const DecodeOptions& options) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return decode_image_box(bytes.data(), bytes.size(), choose, options, path);
}

}  // namespace edat::data
