#include "model/thin/xml_reader.h"

#include <expat.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <map>
#include <utility>
#include <vector>

namespace thinsim::thin {

XmlError::XmlError(std::string file, uint64_t line, uint64_t column, std::string message)
    : std::runtime_error(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message),
      file_(std::move(file)),
      line_(line),
      column_(column),
      message_(std::move(message)) {}

namespace {

constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
// What an empty <def> costs against XmlReadOptions::max_def_runs (its map node and vector, in
// MappingRun-sized units), so that many tiny defs cannot use more memory than the cap allows for runs.
constexpr uint64_t kDefUnits = 4;

enum class Elem : uint8_t { kNone, kSuperblock, kDevice, kSingle, kRange, kDef, kRef, kUnknown };

Elem classify(const char* n) {
  switch (n[0]) {
    case 's':
      if (std::strcmp(n, "single_mapping") == 0) return Elem::kSingle;
      if (std::strcmp(n, "superblock") == 0) return Elem::kSuperblock;
      break;
    case 'r':
      if (std::strcmp(n, "range_mapping") == 0) return Elem::kRange;
      if (std::strcmp(n, "ref") == 0) return Elem::kRef;
      break;
    case 'd':
      if (std::strcmp(n, "device") == 0) return Elem::kDevice;
      if (std::strcmp(n, "def") == 0) return Elem::kDef;
      break;
    default:
      break;
  }
  return Elem::kUnknown;
}

const char* tag(Elem e) {
  switch (e) {
    case Elem::kSuperblock: return "<superblock>";
    case Elem::kDevice: return "<device>";
    case Elem::kSingle: return "<single_mapping>";
    case Elem::kRange: return "<range_mapping>";
    case Elem::kDef: return "<def>";
    case Elem::kRef: return "<ref>";
    case Elem::kNone:
    case Elem::kUnknown: break;
  }
  return "<?>";
}

struct AttrSpec {
  const char* name;
  bool required;
};

constexpr AttrSpec kSuperblockAttrs[] = {
    {"uuid", true},    {"time", true},           {"transaction", true},    {"flags", false},
    {"version", false}, {"data_block_size", true}, {"nr_data_blocks", true}, {"metadata_snap", false}};
constexpr AttrSpec kDeviceAttrs[] = {{"dev_id", true},
                                     {"mapped_blocks", true},
                                     {"transaction", true},
                                     {"creation_time", true},
                                     {"snap_time", true}};
constexpr AttrSpec kSingleAttrs[] = {{"origin_block", true}, {"data_block", true}, {"time", true}};
constexpr AttrSpec kRangeAttrs[] = {
    {"origin_begin", true}, {"data_begin", true}, {"length", true}, {"time", true}};
constexpr AttrSpec kNameAttrs[] = {{"name", true}};

// Renders untrusted text for a message: at most `max` bytes, control bytes and quotes escaped.
std::string clip(std::string_view s, std::size_t max = 40) {
  std::string out;
  std::size_t n = std::min(s.size(), max);
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      static const char hex[] = "0123456789abcdef";
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        default:
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 15];
      }
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

inline bool is_xml_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

class Parser {
 public:
  Parser(MetadataVisitor& visitor, std::string_view name, const XmlReadOptions& options)
      : visitor_(visitor), name_(name), options_(options), parser_(XML_ParserCreate(nullptr)) {
    if (parser_ == nullptr) throw std::bad_alloc();
    XML_SetUserData(parser_, this);
    XML_SetElementHandler(parser_, &Parser::on_start, &Parser::on_end);
    XML_SetCharacterDataHandler(parser_, &Parser::on_text);
    XML_SetStartDoctypeDeclHandler(parser_, &Parser::on_doctype);
    stack_[0] = Elem::kNone;
  }
  ~Parser() { XML_ParserFree(parser_); }

  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  std::size_t chunk_size() const { return std::clamp<std::size_t>(options_.chunk_size, 1, std::size_t{1} << 30); }

  // Zero-copy path: fill the buffer returned by buffer(n) and hand over `len` bytes of it.
  void* buffer(std::size_t n) {
    void* b = XML_GetBuffer(parser_, static_cast<int>(n));
    if (b == nullptr) throw std::bad_alloc();
    return b;
  }
  void parse_buffer(std::size_t len, bool final) {
    fed_ += len;
    after_parse(XML_ParseBuffer(parser_, static_cast<int>(len), final ? XML_TRUE : XML_FALSE));
  }
  void parse(const char* data, std::size_t len, bool final) {
    fed_ += len;
    after_parse(XML_Parse(parser_, data, static_cast<int>(len), final ? XML_TRUE : XML_FALSE));
  }

  // After the final chunk: the document is complete and valid, so the superblock can end.
  void finish() {
    if (!closed_) throw XmlError(name_, close_line_, close_col_, "document has no <superblock>");
    try {
      visitor_.end_superblock();
    } catch (...) {
      pending_ = std::current_exception();
      pending_line_ = close_line_;
      pending_col_ = close_col_;
      pending_from_visitor_ = true;
      rethrow_pending();
    }
  }

  void report_progress() {
    if (options_.progress) options_.progress(fed_);
  }

  // Where the event about to be handed to the visitor starts (cheap, unlike line numbers).
  void note_event_offset() {
    if (options_.event_offset) {
      XML_Index idx = XML_GetCurrentByteIndex(parser_);
      *options_.event_offset = idx >= 0 ? static_cast<uint64_t>(idx) : fed_;
    }
  }

 private:
  // ---- expat callbacks (must not let exceptions escape into C code) ----
  static void XMLCALL on_start(void* ud, const XML_Char* name, const XML_Char** atts) {
    auto* self = static_cast<Parser*>(ud);
    if (self->stopped_) return;
    try {
      self->start(name, atts);
    } catch (...) {
      self->capture();
    }
  }
  static void XMLCALL on_end(void* ud, const XML_Char* /*name*/) {
    auto* self = static_cast<Parser*>(ud);
    if (self->stopped_) return;
    try {
      self->end();
    } catch (...) {
      self->capture();
    }
  }
  static void XMLCALL on_text(void* ud, const XML_Char* s, int len) {
    auto* self = static_cast<Parser*>(ud);
    if (self->stopped_) return;
    for (int i = 0; i < len; ++i) {
      if (!is_xml_space(s[i])) [[unlikely]] {
        try {
          self->bad_text(s, len, i);
        } catch (...) {
          self->capture();
        }
        return;
      }
    }
  }
  static void XMLCALL on_doctype(void* ud, const XML_Char* /*name*/, const XML_Char* sysid,
                                 const XML_Char* pubid, int has_internal_subset) {
    auto* self = static_cast<Parser*>(ud);
    if (self->stopped_) return;
    if (has_internal_subset || sysid != nullptr || pubid != nullptr) {
      try {
        self->fail(
            "DOCTYPE declarations with an internal subset or an external DTD are not supported "
            "(only <!DOCTYPE superblock> is accepted)");
      } catch (...) {
        self->capture();
      }
    }
  }

  void capture() {
    pending_ = std::current_exception();
    pending_line_ = XML_GetCurrentLineNumber(parser_);
    pending_col_ = XML_GetCurrentColumnNumber(parser_) + 1;
    pending_from_visitor_ = in_visitor_;
    stopped_ = true;
    XML_StopParser(parser_, XML_FALSE);
  }

  [[noreturn]] void rethrow_pending() {
    std::exception_ptr e = std::exchange(pending_, nullptr);
    if (pending_from_visitor_ && options_.locate_visitor_errors) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::throw_with_nested(XmlError(name_, pending_line_, pending_col_, ex.what()));
      }
    }
    std::rethrow_exception(e);
  }

  void after_parse(XML_Status status) {
    if (status == XML_STATUS_ERROR) {
      if (pending_) rethrow_pending();
      XML_Error code = XML_GetErrorCode(parser_);
      const XML_LChar* msg = XML_ErrorString(code);
      throw XmlError(name_, XML_GetCurrentLineNumber(parser_), XML_GetCurrentColumnNumber(parser_) + 1,
                     msg != nullptr ? msg : "XML parse error");
    }
    if (pending_) rethrow_pending();  // defensive: a handler failed but expat finished anyway
    // Bound expat's buffer: it keeps an incomplete construct (tag, comment, ...) in memory until it
    // ends. After a parse step the current byte index is the start of that construct (or -1 when
    // expat deferred parsing, in which case the construct has not moved).
    // Line and column are only worked out for suspiciously long constructs: expat computes them by
    // rescanning the input, which would cost a second pass over every chunk.
    XML_Index idx = XML_GetCurrentByteIndex(parser_);
    if (idx >= 0) {
      held_from_ = static_cast<uint64_t>(idx);
      const uint64_t suspicious = std::min<uint64_t>(options_.max_markup_bytes / 2, uint64_t{1} << 20);
      if (fed_ - held_from_ > suspicious) {
        held_line_ = XML_GetCurrentLineNumber(parser_);
        held_col_ = XML_GetCurrentColumnNumber(parser_) + 1;
      }
    }
    if (fed_ > held_from_ && fed_ - held_from_ > options_.max_markup_bytes) {
      throw XmlError(name_, held_line_, held_col_,
                     "markup construct longer than " + std::to_string(options_.max_markup_bytes) +
                         " bytes (unterminated tag, comment or attribute value?)");
    }
  }

  // ---- error helpers ----
  [[noreturn]] void fail(const std::string& message) {
    throw XmlError(name_, XML_GetCurrentLineNumber(parser_), XML_GetCurrentColumnNumber(parser_) + 1, message);
  }

  [[noreturn]] void misplaced(Elem e, Elem parent) {
    const char* where = nullptr;
    switch (e) {
      case Elem::kSuperblock: where = "must be the root element"; break;
      case Elem::kDevice: where = "must be inside <superblock>"; break;
      case Elem::kDef: where = "must be directly inside <superblock>"; break;
      case Elem::kSingle:
      case Elem::kRange: where = "must be inside <device> or <def>"; break;
      case Elem::kRef: where = "must be inside <device>"; break;
      default: where = "is not allowed here"; break;
    }
    std::string msg = std::string(tag(e)) + " " + where;
    if (parent == Elem::kNone) {
      msg += ", not at the top level";
    } else {
      msg += ", not inside ";
      msg += tag(parent);
    }
    fail(msg);
  }

  void bad_text(const char* s, int len, int i) {
    // Locate the first offending character exactly (expat reports where the text piece starts).
    uint64_t line = XML_GetCurrentLineNumber(parser_);
    uint64_t col = XML_GetCurrentColumnNumber(parser_) + 1;
    for (int k = 0; k < i; ++k) {
      if (s[k] == '\n') {
        ++line;
        col = 1;
      } else if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) {
        ++col;  // count characters, not UTF-8 continuation bytes, like expat
      }
    }
    std::string msg = "unexpected text \"" + clip(std::string_view(s + i, static_cast<std::size_t>(len - i))) +
                      "\" inside " + tag(stack_[depth_]) + " (only whitespace is allowed between elements)";
    throw XmlError(name_, line, col, msg);
  }

  // ---- attributes ----
  template <std::size_t N>
  void collect(Elem e, const AttrSpec (&spec)[N], const XML_Char** atts, const char* (&vals)[N]) {
    for (std::size_t i = 0; i < N; ++i) vals[i] = nullptr;
    std::size_t hint = 0;
    for (const XML_Char** a = atts; *a != nullptr; a += 2) {
      std::size_t k;
      if (hint < N && std::strcmp(a[0], spec[hint].name) == 0) {
        k = hint;  // attributes usually come in the canonical order
      } else {
        k = N;
        for (std::size_t j = 0; j < N; ++j) {
          if (std::strcmp(a[0], spec[j].name) == 0) {
            k = j;
            break;
          }
        }
        if (k == N) fail(std::string(tag(e)) + " has unknown attribute \"" + clip(a[0]) + "\"");
      }
      vals[k] = a[1];
      hint = k + 1;
    }
    for (std::size_t i = 0; i < N; ++i) {
      if (spec[i].required && vals[i] == nullptr)
        fail(std::string(tag(e)) + " is missing attribute \"" + spec[i].name + "\"");
    }
  }

  uint64_t number(Elem e, const char* attr, const char* s, uint64_t max) {
    uint64_t v = 0;
    bool overflow = false;
    const char* p = s;
    if (*p == '\0') fail(std::string(tag(e)) + " attribute \"" + attr + "\" is empty");
    for (; *p != '\0'; ++p) {
      unsigned d = static_cast<unsigned>(static_cast<unsigned char>(*p)) - '0';
      if (d > 9) {
        fail(std::string(tag(e)) + " attribute \"" + attr + "\" is not a plain decimal number: \"" + clip(s) +
             "\"");
      }
      if (!overflow && (__builtin_mul_overflow(v, uint64_t{10}, &v) || __builtin_add_overflow(v, d, &v)))
        overflow = true;
    }
    if (overflow || v > max) {
      fail(std::string(tag(e)) + " attribute \"" + attr + "\" is out of range (maximum " + std::to_string(max) +
           "): \"" + clip(s) + "\"");
    }
    return v;
  }

  MappingRun parse_mapping(Elem e, const XML_Char** atts) {
    MappingRun run;
    if (e == Elem::kSingle) {
      const char* v[3];
      collect(e, kSingleAttrs, atts, v);
      run.origin_begin = number(e, "origin_block", v[0], kU64Max);
      run.data_begin = number(e, "data_block", v[1], kU64Max);
      run.length = 1;
      run.time = static_cast<uint32_t>(number(e, "time", v[2], kU32Max));
    } else {
      const char* v[4];
      collect(e, kRangeAttrs, atts, v);
      run.origin_begin = number(e, "origin_begin", v[0], kU64Max);
      run.data_begin = number(e, "data_begin", v[1], kU64Max);
      run.length = number(e, "length", v[2], kU64Max);
      run.time = static_cast<uint32_t>(number(e, "time", v[3], kU32Max));
      if (run.length == 0) fail("<range_mapping> attribute \"length\" must be at least 1");
    }
    // The exclusive end of the run must be representable: begin + length <= 2^64 - 1.
    if (run.length > kU64Max - run.origin_begin) {
      fail(std::string(tag(e)) + (e == Elem::kSingle ? " origin_block + 1" : " origin_begin + length") +
           " overflows 64 bits");
    }
    if (run.length > kU64Max - run.data_begin) {
      fail(std::string(tag(e)) + (e == Elem::kSingle ? " data_block + 1" : " data_begin + length") +
           " overflows 64 bits");
    }
    return run;
  }

  void start_superblock(const XML_Char** atts) {
    const char* v[8];
    collect(Elem::kSuperblock, kSuperblockAttrs, atts, v);
    const Elem e = Elem::kSuperblock;
    SuperblockInfo sb;
    sb.uuid = v[0];
    sb.time = number(e, "time", v[1], kU32Max);
    sb.transaction = number(e, "transaction", v[2], kU64Max);
    if (v[3] != nullptr) sb.flags = static_cast<uint32_t>(number(e, "flags", v[3], kU32Max));
    if (v[4] != nullptr) sb.version = static_cast<uint32_t>(number(e, "version", v[4], kU32Max));
    sb.data_block_size = static_cast<uint32_t>(number(e, "data_block_size", v[5], kU32Max));
    sb.nr_data_blocks = number(e, "nr_data_blocks", v[6], kU64Max);
    if (v[7] != nullptr) sb.metadata_snap = number(e, "metadata_snap", v[7], kU64Max);
    note_event_offset();
    in_visitor_ = true;
    visitor_.begin_superblock(sb);
    in_visitor_ = false;
  }

  void start_device(const XML_Char** atts) {
    const char* v[5];
    collect(Elem::kDevice, kDeviceAttrs, atts, v);
    const Elem e = Elem::kDevice;
    DeviceInfo dev;
    dev.dev_id = number(e, "dev_id", v[0], kU32Max);
    dev.mapped_blocks = number(e, "mapped_blocks", v[1], kU64Max);
    dev.transaction = number(e, "transaction", v[2], kU64Max);
    dev.creation_time = number(e, "creation_time", v[3], kU32Max);
    dev.snap_time = number(e, "snap_time", v[4], kU32Max);
    note_event_offset();
    in_visitor_ = true;
    visitor_.begin_device(dev);
    in_visitor_ = false;
  }

  std::string def_name(Elem e, const XML_Char** atts) {
    const char* v[1];
    collect(e, kNameAttrs, atts, v);
    if (v[0][0] == '\0') fail(std::string(tag(e)) + " attribute \"name\" is empty");
    return v[0];
  }

  void charge_defs(uint64_t units) {
    if (units > options_.max_def_runs || def_units_ > options_.max_def_runs - units) {
      fail("<def> contents exceed the limit of " + std::to_string(options_.max_def_runs) +
           " buffered mapping runs");
    }
    def_units_ += units;
  }

  void start_def(const XML_Char** atts) {
    std::string name = def_name(Elem::kDef, atts);
    if (defs_.count(name) != 0) fail("duplicate <def name=\"" + clip(name) + "\">");
    charge_defs(kDefUnits + name.size() / 32);
    current_def_ = &defs_[std::move(name)];
  }

  void start_ref(const XML_Char** atts) {
    std::string name = def_name(Elem::kRef, atts);
    auto it = defs_.find(name);
    if (it == defs_.end()) fail("<ref name=\"" + clip(name) + "\"> does not name an earlier <def>");
    note_event_offset();
    in_visitor_ = true;
    for (const MappingRun& run : it->second) visitor_.mapping(run);
    in_visitor_ = false;
  }

  void start(const XML_Char* name, const XML_Char** atts) {
    const Elem e = classify(name);
    const Elem parent = stack_[depth_];
    switch (e) {
      case Elem::kSingle:
      case Elem::kRange: {
        if (parent != Elem::kDevice && parent != Elem::kDef) [[unlikely]]
          misplaced(e, parent);
        MappingRun run = parse_mapping(e, atts);
        if (parent == Elem::kDevice) {
          note_event_offset();
          in_visitor_ = true;
          visitor_.mapping(run);
          in_visitor_ = false;
        } else {
          charge_defs(1);
          current_def_->push_back(run);
        }
        break;
      }
      case Elem::kDevice:
        if (parent != Elem::kSuperblock) misplaced(e, parent);
        start_device(atts);
        break;
      case Elem::kSuperblock:
        if (parent != Elem::kNone) misplaced(e, parent);
        start_superblock(atts);
        break;
      case Elem::kDef:
        if (parent != Elem::kSuperblock) misplaced(e, parent);
        start_def(atts);
        break;
      case Elem::kRef:
        if (parent != Elem::kDevice) misplaced(e, parent);
        start_ref(atts);
        break;
      case Elem::kNone:
      case Elem::kUnknown:
        fail("unknown element <" + clip(name) + ">");
    }
    // Children of mappings and refs were rejected above, so the depth never exceeds 3.
    stack_[++depth_] = e;
  }

  void end() {
    const Elem e = stack_[depth_--];
    switch (e) {
      case Elem::kDevice:
        note_event_offset();
        in_visitor_ = true;
        visitor_.end_device();
        in_visitor_ = false;
        break;
      case Elem::kDef:
        current_def_ = nullptr;
        break;
      case Elem::kSuperblock:
        closed_ = true;
        close_line_ = XML_GetCurrentLineNumber(parser_);
        close_col_ = XML_GetCurrentColumnNumber(parser_) + 1;
        break;
      default:
        break;
    }
  }

  MetadataVisitor& visitor_;
  std::string name_;
  const XmlReadOptions& options_;
  XML_Parser parser_;

  Elem stack_[4] = {};
  int depth_ = 0;

  // An ordered map: lookups stay O(log n) whatever names a hostile input chooses.
  std::map<std::string, std::vector<MappingRun>, std::less<>> defs_;
  std::vector<MappingRun>* current_def_ = nullptr;
  uint64_t def_units_ = 0;

  bool closed_ = false;
  uint64_t close_line_ = 1;
  uint64_t close_col_ = 1;

  bool stopped_ = false;
  bool in_visitor_ = false;
  std::exception_ptr pending_;
  bool pending_from_visitor_ = false;
  uint64_t pending_line_ = 0;
  uint64_t pending_col_ = 0;

  uint64_t fed_ = 0;
  uint64_t held_from_ = 0;
  uint64_t held_line_ = 1;
  uint64_t held_col_ = 1;
};

[[noreturn]] void read_failed(std::string_view name, int err) {
  throw std::runtime_error("error reading " + std::string(name) + ": " + std::strerror(err));
}

}  // namespace

void read_thin_xml(int fd, MetadataVisitor& visitor, std::string_view name, const XmlReadOptions& options) {
  Parser parser(visitor, name, options);
  const std::size_t chunk = parser.chunk_size();
  for (;;) {
    void* buf = parser.buffer(chunk);
    ssize_t n;
    do {
      n = ::read(fd, buf, chunk);
    } while (n < 0 && errno == EINTR);
    if (n < 0) read_failed(name, errno);
    parser.parse_buffer(static_cast<std::size_t>(n), n == 0);
    if (n == 0) break;
    parser.report_progress();
  }
  parser.finish();
}

void read_thin_xml(const std::string& path, MetadataVisitor& visitor, const XmlReadOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  read_thin_xml(fd, visitor, path, options);
}

void read_thin_xml_string(std::string_view text, MetadataVisitor& visitor, std::string_view name,
                          const XmlReadOptions& options) {
  Parser parser(visitor, name, options);
  const std::size_t chunk = parser.chunk_size();
  std::size_t off = 0;
  do {
    std::size_t n = std::min(chunk, text.size() - off);
    parser.parse(text.data() + off, n, off + n == text.size());
    off += n;
    parser.report_progress();
  } while (off < text.size());
  parser.finish();
}

}  // namespace thinsim::thin
