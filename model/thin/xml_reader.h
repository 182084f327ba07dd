// Streaming reader for thin-provisioning-tools metadata XML (thin_dump / thin_restore format).
//
// The input is parsed with expat in fixed-size chunks and every element is handed to a
// MetadataVisitor as soon as it has been validated; no document is ever built. The only data kept
// in memory is the contents of <def> elements (tools 1.x), as run lists, up to a configurable cap.
//
// Accepted dialect
//   <superblock uuid time transaction [flags] [version] data_block_size nr_data_blocks [metadata_snap]>
//     <def name>  (1.x)  mappings only                                 </def>
//     <device dev_id mapped_blocks transaction creation_time snap_time>
//       <single_mapping origin_block data_block time/>
//       <range_mapping origin_begin data_begin length time/>
//       <ref name/>  (1.x)  "insert the mappings of the <def> with this name here"
//     </device>
//   </superblock>
// plus whatever XML itself allows around it: an XML declaration, comments, processing instructions,
// CDATA/whitespace between elements, character references in attribute values, a DOCTYPE without
// an internal subset. Elements may be written empty (<device .../>) or with start and end tags.
//
// Validation (stricter than 0.9.0's thin_restore, which ignores unknown attributes and text, wraps
// negative numbers and silently truncates 32-bit fields):
//   - every required attribute present, no unknown attribute, values plain decimal digits
//     (no sign, no spaces, no hex; leading zeros are fine) within the range of the field:
//     u32 for superblock time/flags/version/data_block_size, device dev_id/creation_time/snap_time
//     and mapping time; u64 otherwise;
//   - length >= 1, and neither origin_begin + length nor data_begin + length exceeds 2^64;
//   - nesting exactly as above; <def> only directly inside <superblock>, <ref> only inside <device>,
//     a <ref> must name an earlier <def>, <def> names are unique; text must be whitespace;
//   - a DOCTYPE with an internal subset is refused (entity and default-attribute declarations);
//   - a single markup construct (tag, comment, ...) longer than max_markup_bytes is refused, which
//     bounds expat's buffer on hostile input.
// The reader does not check ordering, overlaps or mapped_blocks: that is the consumer's business.
//
// Visitor calls: begin_superblock at <superblock>, begin_device/end_device at <device> and
// </device>, mapping() for every mapping element and for every run of a referenced <def>.
// end_superblock() is called only after the whole input has been parsed successfully (so nothing
// after </superblock> can invalidate a document the visitor already committed).
//
// Errors: XmlError, whose what() reads "<name>:<line>:<column>: <message>", e.g.
//   big.xml:12:5: <single_mapping> is missing attribute "time"
// Lines and columns are 1-based and point at the start of the offending construct (expat errors:
// where expat detected the problem). An exception thrown by the visitor is, by default, rethrown as
// an XmlError carrying the location of the element being processed and the visitor's what() as the
// message, with the original exception nested (std::rethrow_if_nested recovers it).
// I/O errors reading the input throw std::runtime_error ("error reading <name>: <errno text>").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "model/thin/metadata_visitor.h"

namespace thinsim::thin {

class XmlError : public std::runtime_error {
 public:
  XmlError(std::string file, uint64_t line, uint64_t column, std::string message);

  const std::string& file() const noexcept { return file_; }
  uint64_t line() const noexcept { return line_; }      // 1-based
  uint64_t column() const noexcept { return column_; }  // 1-based
  const std::string& message() const noexcept { return message_; }  // without the location prefix

 private:
  std::string file_;
  uint64_t line_;
  uint64_t column_;
  std::string message_;
};

struct XmlReadOptions {
  // Bytes handed to expat per step.
  std::size_t chunk_size = 64 * 1024;
  // Cap on what <def> elements may buffer: one unit per mapping run, plus per <def> four units and one
  // more per 32 bytes of its name (a unit is about 32 bytes of memory; 64 Mi units is about 2 GiB).
  uint64_t max_def_runs = uint64_t{64} << 20;
  // Longest single tag, comment, processing instruction or DOCTYPE accepted (expat has to buffer
  // each of them whole). Real files never come near this.
  std::size_t max_markup_bytes = std::size_t{16} << 20;
  // Rethrow visitor exceptions as located XmlErrors (original nested) rather than unchanged.
  bool locate_visitor_errors = true;
  // Called after every chunk with the number of input bytes consumed so far (optional).
  std::function<void(uint64_t bytes_read)> progress;
  // When set, receives the byte offset of each element before the visitor hears of it.
  uint64_t* event_offset = nullptr;
};

// Reads from a file descriptor owned by the caller, to end of file. `name` is used in messages.
void read_thin_xml(int fd, MetadataVisitor& visitor, std::string_view name = "<stdin>",
                   const XmlReadOptions& options = {});

// Opens and reads a file; the path is the name used in messages.
void read_thin_xml(const std::string& path, MetadataVisitor& visitor, const XmlReadOptions& options = {});

// Reads a document held in memory (still fed to expat in chunk_size pieces).
void read_thin_xml_string(std::string_view text, MetadataVisitor& visitor,
                          std::string_view name = "<string>", const XmlReadOptions& options = {});

}  // namespace thinsim::thin
