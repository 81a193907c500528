// The JSON document and JSON Lines readers: a hand-written streaming tokenizer over a refillable window.
//
// The window holds the decompressed bytes from the start of the current token to the end of what was read,
// followed by a NUL sentinel, so the scanning loops stop at the end without a bounds check per byte. When a
// token reaches the end of the window, the window is refilled (keeping the token's bytes) and the token is
// scanned again from its start. Lines are counted in whitespace only (JSON strings cannot hold a raw newline).
#include <fmt/format.h>

#include <bit>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "traces/reader_impl.h"

namespace gomalloc::traces::detail {
namespace {

constexpr size_t kWindow = size_t{1} << 20;  // bytes read per refill
constexpr size_t kEventSlack = 4096;         // an event object shorter than this never needs a mid-token refill
constexpr uint64_t kNone = ~uint64_t{0};
constexpr size_t kMaxDepth = 1000;           // nesting in ignored values
constexpr ptrdiff_t kNearEnd = 8;            // an error this close to the end of truncated data is the truncation
constexpr size_t kPad = 256;                 // allocated after the sentinel: fastEvent's comparisons stay inside

// Field bits for the keys of an event object.
enum : unsigned { kOp = 1, kThread = 2, kId = 4, kSize = 8, kScan = 16, kTs = 32 };

struct Number {
  uint64_t mag = 0;
  bool neg = false;
  bool overflow = false;
  bool integral = true;
};

// An error confined to one event, thrown only when recovering (ReadOptions::recover): the reader skips the
// event and reads on.
struct BadEvent {
  TraceError error;
};

inline bool isDigit(char c) { return unsigned(c - '0') < 10; }

std::string describe(char c) {
  switch (c) {
    case '"': return "a string";
    case '{': return "an object";
    case '[': return "an array";
    case 't':
    case 'f': return "a boolean";
    case 'n': return "null";
    default: break;
  }
  if (c == '-' || isDigit(c)) return "a number";
  return "something that is not JSON";
}

std::string shown(char c) {
  if (c == '\0') return "a NUL byte";
  if (c == '\n') return "the end of the line (JSON Lines: one event per line)";
  if (uint8_t(c) < 0x20 || uint8_t(c) >= 0x7f) return fmt::format("byte 0x{:02x}", uint8_t(c));
  return fmt::format("'{}'", c);
}

class JsonReader final : public TraceReader {
 public:
  JsonReader(std::string path, Compression c, JsonMode mode, const ReadOptions& o, std::unique_ptr<Input> in)
      : TraceReader(std::move(path), Format{mode == JsonMode::Lines ? Encoding::JsonLines : Encoding::Json, c}, o,
                    std::move(in)),
        mode_(mode) {
    buf_.reset(new char[kWindow + 1 + kPad]);  // not zeroed: pages are touched only as input arrives
    cap_ = kWindow;
    p_ = end_ = buf_.get();
    *end_ = 0;
    fast_ = !std::getenv("GOMALLOC_JSON_GENERAL");  // tests and benchmarks compare the two paths
  }

  uint64_t bytes() const override { return abs(p_); }

 protected:
  size_t fill(Event* out, size_t n) override;

 private:
  enum class State { Start, Header, EventsFirst, EventsNext, AfterEvents, Lines, Done };

  // ---- the window ----
  uint64_t abs(const char* q) const { return base_ + uint64_t(q - buf_.get()); }
  char* at(uint64_t a) { return buf_.get() + (a - base_); }
  uint64_t column(const char* q) const { return abs(q) - lineStart_ + 1; }
  bool atEnd() const { return p_ == end_ && eof_; }

  // Reads more input, keeping the bytes from keepAbs (and from pin_) on. Returns false at the end of input.
  bool refill(uint64_t keepAbs) {
    if (eof_) return false;
    uint64_t from = std::min(keepAbs, pin_);
    size_t keep = size_t(end_ - at(from));
    uint64_t pAbs = abs(p_);
    if (cap_ - keep < kWindow / 2) {  // a token longer than half the window: grow it
      size_t cap = std::max(cap_ * 2, keep + kWindow);
      std::unique_ptr<char[]> bigger(new char[cap + 1 + kPad]);
      std::memcpy(bigger.get(), at(from), keep);
      buf_ = std::move(bigger);
      cap_ = cap;
    } else {
      std::memmove(buf_.get(), at(from), keep);
    }
    base_ = from;
    size_t have = keep;
    size_t room = cap_;
    while (have < room) {
      size_t got = readInput(buf_.get() + have, room - have);  // an input error ends the data (failAt says so)
      if (got == 0) {
        eof_ = true;
        break;
      }
      have += got;
    }
    end_ = buf_.get() + have;
    *end_ = 0;
    p_ = at(pAbs);
    return have > keep;
  }
  // Makes n bytes from p_ available unless the input ends first.
  void ensure(size_t n) {
    while (size_t(end_ - p_) < n && !eof_) refill(abs(p_));
  }

  // ---- errors ----
  Where whereAt(const char* q) const {
    Where w;
    w.line = line_;
    w.column = column(q);
    if (inEvent_) {
      w.event = events_;
    } else {
      w.afterEvents = state_ == State::AfterEvents;
      if (state_ == State::Lines) w.event = events_;
    }
    return w;
  }
  // After an input error (inputError()), an error where the data ended is that error (the data ended early or
  // went on with corrupt bytes); one before it keeps its message and adds the input's.
  [[noreturn]] void failAt(const char* q, const std::string& msg) const {
    if (inputError().empty()) throw TraceError(path_, whereAt(q), msg);
    if (end_ - q <= kNearEnd) {  // at the end of the data (the last bytes of a token, on the same line)
      if (!std::memchr(q, '\n', size_t(end_ - q))) q = end_;
      throw TraceError(path_, whereAt(q), inputError());
    }
    throw TraceError(path_, whereAt(q), msg + " (and then: " + inputError() + ")");
  }
  // The data ended where a complete trace may end: an input error there is still an error (a truncated stream
  // or data after a complete one), at the next event.
  void checkEnd() {
    if (inputError().empty()) return;
    inEvent_ = true;
    failHere(inputError());
  }
  [[noreturn]] void failHere(const std::string& msg) const { failAt(p_, msg); }
  [[noreturn]] void failObject(const std::string& msg) const {
    Where w;
    w.event = events_;
    w.line = objLine_;
    w.column = objColumn_;
    if (opts_.recover) throw BadEvent{TraceError(path_, w, msg)};
    throw TraceError(path_, w, msg);
  }
  // A value that is well-formed JSON but wrong for its field (type, range, an unknown op, a duplicate key): in
  // an event, recoverable (ReadOptions::recover); anywhere else, an error like any other.
  [[noreturn]] void badValue(const std::string& msg) const {
    if (opts_.recover && inEvent_ && inputError().empty()) throw BadEvent{TraceError(path_, whereAt(p_), msg)};
    failHere(msg);
  }
  // After a BadEvent: skips the event (from its '{', checking its syntax) and queues its error. If the event is
  // not a well-formed object (on one line, for JSON Lines), its own error ends the reading.
  void recoverEvent(const TraceError& error) {
    p_ = at(objAbs_);
    line_ = objLine_;
    lineStart_ = objLineStart_;
    try {
      skipValue();
      if (mode_ == JsonMode::Lines) {
        if (line_ != objLine_) throw error;
        afterLineEvent();
      }
    } catch (const TraceError&) {
      throw error;
    }
    pin_ = kNone;
    inEvent_ = false;
    queueEventError(events_, error.what());
  }
  [[noreturn]] void unexpected(const std::string& expected) {
    if (atEnd()) failHere("unexpected end of file (truncated?): expected " + expected);
    failHere("expected " + expected + ", got " + shown(*p_));
  }

  // ---- tokens ----
  // Skips whitespace, counting lines; returns the next byte (NUL at the end of input).
  char ws() {
    for (;;) {
      const char* q = p_;
      for (;;) {
        char c = *q;
        if (c == ' ' || c == '\t' || c == '\r') {
          ++q;
        } else if (c == '\n') {
          if (oneLine_) break;  // JSON Lines: an event ends on its line; the caller reports the newline
          ++q;
          ++line_;
          lineStart_ = abs(q);
        } else {
          break;
        }
      }
      p_ = const_cast<char*>(q);
      if (p_ != end_ || !refill(abs(p_))) return *p_;
    }
  }
  // Skips spaces, tabs and CRs, not newlines (JSON Lines: the rest of a line).
  char spaces() {
    for (;;) {
      while (*p_ == ' ' || *p_ == '\t' || *p_ == '\r') ++p_;
      if (p_ != end_ || !refill(abs(p_))) return *p_;
    }
  }
  void expect(char c, const char* what) {
    if (ws() != c) unexpected(what);
    ++p_;
  }

  // Scans a string at p_ (which is at its '"') without decoding. Sets [s, e) to the raw content and leaves p_
  // after the closing quote; returns true if the content has escapes (then decode with decodeString).
  bool scanString(const char*& s, const char*& e) {
    uint64_t start = abs(p_);
    for (;;) {
      const char* q = at(start) + 1;
      bool escaped = false;
      for (;;) {
        while (uint8_t(*q) >= 0x20 && *q != '"' && *q != '\\') ++q;
        if (*q == '"') break;
        if (*q == '\\') {
          escaped = true;
          ++q;
          if (q == end_) break;
          char x = *q;
          if (x == 'u') {
            for (int i = 1; i <= 4; i++) {
              if (q + i == end_) goto more;
              if (!std::isxdigit(uint8_t(q[i]))) {
                p_ = const_cast<char*>(q + i);
                failHere("invalid \\u escape in a string: expected 4 hex digits");
              }
            }
            q += 5;
          } else if (std::strchr("\"\\/bfnrt", x) && x) {
            ++q;
          } else {
            p_ = const_cast<char*>(q);
            failHere("invalid escape \\" + std::string(1, x) + " in a string");
          }
          continue;
        }
        if (q == end_) break;
        p_ = const_cast<char*>(q);
        failHere(fmt::format("control character 0x{:02x} in a string (escape it)", uint8_t(*q)));
      }
      if (*q == '"') {
        s = at(start) + 1;
        e = q;
        p_ = const_cast<char*>(q + 1);
        return escaped;
      }
    more:
      p_ = end_;
      if (!refill(start)) {
        p_ = end_;
        failHere("unexpected end of file (truncated?) inside a string");
      }
      p_ = at(start);
    }
  }
  static void putUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xc0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += char(0xe0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    } else {
      out += char(0xf0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3f));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    }
  }
  // Decodes raw string content (already checked by scanString).
  static std::string decodeString(const char* s, const char* e) {
    std::string out;
    auto hex4 = [](const char* h) { return uint32_t(std::stoul(std::string(h, 4), nullptr, 16)); };
    while (s < e) {
      if (*s != '\\') {
        out += *s++;
        continue;
      }
      char x = s[1];
      s += 2;
      switch (x) {
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4(s);
          s += 4;
          if (cp >= 0xd800 && cp < 0xdc00 && e - s >= 6 && s[0] == '\\' && s[1] == 'u') {
            uint32_t lo = hex4(s + 2);
            if (lo >= 0xdc00 && lo < 0xe000) {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
              s += 6;
            }
          }
          putUtf8(out, cp);
          break;
        }
        default: out += x; break;
      }
    }
    return out;
  }
  // The string at p_: its raw content, or (when it has escapes) its content decoded into scratch.
  std::string_view stringAt(std::string& scratch) {
    const char *s, *e;
    if (!scanString(s, e)) return std::string_view(s, size_t(e - s));
    scratch = decodeString(s, e);
    return scratch;
  }
  std::string readString() {
    std::string scratch;
    return std::string(stringAt(scratch));
  }

  // Scans a JSON number at p_.
  void number(Number& n) {
    uint64_t start = abs(p_);
    for (;;) {
      const char* q = at(start);
      n = Number{};
      if (*q == '-') n.neg = true, ++q;
      if (!isDigit(*q)) {
        if (q == end_ && refill(start)) continue;
        p_ = const_cast<char*>(q);
        unexpected("a digit");
      }
      if (*q == '0' && isDigit(q[1])) {
        p_ = const_cast<char*>(q);
        failHere("invalid number: leading zero");
      }
      uint64_t v = 0;
      while (isDigit(*q)) {
        unsigned d = unsigned(*q - '0');
        if (v > (~uint64_t{0} - d) / 10) n.overflow = true;
        v = v * 10 + d;
        ++q;
      }
      if (q == end_ && refill(start)) continue;
      // One or more digits at q; false if the window ended there and was refilled (scan again).
      auto digitRun = [&](const char*& r, const char* what) {
        if (!isDigit(*r)) {
          if (r == end_ && refill(start)) return false;
          p_ = const_cast<char*>(r);
          unexpected(what);
        }
        while (isDigit(*r)) ++r;
        return !(r == end_ && refill(start));
      };
      if (*q == '.') {
        n.integral = false;
        ++q;
        if (!digitRun(q, "a digit after '.'")) continue;
      }
      if (*q == 'e' || *q == 'E') {
        n.integral = false;
        ++q;
        if (*q == '+' || *q == '-') ++q;
        if (!digitRun(q, "a digit in the exponent")) continue;
      }
      n.mag = v;
      p_ = const_cast<char*>(q);
      return;
    }
  }
  // Matches the literal word (true, false, null) at p_.
  bool literal(const char* word) {
    size_t n = std::strlen(word);
    ensure(n);
    if (size_t(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  // Skips (and checks) any JSON value at p_ (after whitespace).
  void skipValue() {
    std::string stack;
    for (;;) {
      char c = ws();
      switch (c) {
        case '{':
        case '[':
          if (stack.size() >= kMaxDepth) failHere("nesting deeper than 1000 levels");
          stack += c;
          ++p_;
          if (ws() == (c == '{' ? '}' : ']')) {
            ++p_;
            stack.pop_back();
            break;
          }
          if (c == '{') {
            if (ws() != '"') unexpected("a key string or '}'");
            readKeySkip();
          }
          continue;
        case '"': {
          const char *s, *e;
          scanString(s, e);
          break;
        }
        case 't':
        case 'f':
        case 'n':
          if (!literal("true") && !literal("false") && !literal("null")) failHere("invalid literal (not JSON)");
          break;
        default:
          if (c == '-' || isDigit(c)) {
            Number n;
            number(n);
            break;
          }
          unexpected("a JSON value");
      }
      // After a value: close containers or move to the next element.
      for (;;) {
        if (stack.empty()) return;
        char close = stack.back() == '{' ? '}' : ']';
        char d = ws();
        if (d == close) {
          ++p_;
          stack.pop_back();
          continue;
        }
        if (d != ',') unexpected(std::string("',' or '") + close + "'");
        ++p_;
        if (stack.back() == '{') {
          if (ws() != '"') unexpected("a key string");
          readKeySkip();
        }
        break;
      }
    }
  }
  void readKeySkip() {
    const char *s, *e;
    scanString(s, e);
    expect(':', "':'");
  }

  // ---- fields ----
  std::string tokenText(uint64_t start) {
    const char* s = at(start);
    size_t n = std::min<size_t>(size_t(p_ - s), 40);
    return std::string(s, n) + (size_t(p_ - s) > 40 ? "..." : "");
  }
  // An integer field value at p_: returns the magnitude after checking type, sign and range.
  uint64_t intField(const char* key, uint64_t max, const char* maxText) {
    char c = *p_;
    if (c != '-' && !isDigit(c)) {
      if (atEnd()) unexpected(std::string("a value for \"") + key + "\"");
      badValue(fmt::format("wrong type for \"{}\": expected an integer, got {}", key, describe(c)));
    }
    uint64_t start = abs(p_);
    const char* startPtr = p_;
    Number n;
    number(n);
    if (!n.integral) {
      std::string text = tokenText(start);
      p_ = at(start);
      badValue(fmt::format("wrong type for \"{}\": expected an integer, got {}", key, text));
    }
    if (n.neg && n.mag != 0) {
      std::string text = tokenText(start);
      p_ = at(start);
      badValue(fmt::format("\"{}\" is negative: {}", key, text));
    }
    if (n.overflow || n.mag > max) {
      std::string text = tokenText(start);
      p_ = at(start);
      badValue(fmt::format("\"{}\" is too large: {} (at most {})", key, text, maxText));
    }
    (void)startPtr;
    return n.mag;
  }
  bool boolField(const char* key) {
    if (*p_ == 't' && literal("true")) return true;
    if (*p_ == 'f' && literal("false")) return false;
    if (atEnd()) unexpected(std::string("a value for \"") + key + "\"");
    badValue(fmt::format("wrong type for \"{}\": expected true or false, got {}", key, describe(*p_)));
  }

  // ---- the header ----
  // Parses one member of the top-level object (p_ at its key's '"'). Returns true if it was "events".
  bool headerMember() {
    const char* keyPos = p_;
    uint64_t keyAbs = abs(p_);
    uint64_t keyLine = line_;
    std::string key = readString();
    expect(':', "':' after a key");
    char c = ws();
    auto once = [&](bool& seen) {
      if (seen) {
        p_ = at(keyAbs);
        failHere("duplicate key \"" + key + "\"");
      }
      seen = true;
    };
    (void)keyPos;
    if (key == "events") {
      once(sawEvents_);
      if (mode_ == JsonMode::Lines) {
        p_ = at(keyAbs);
        failHere("a JSON Lines header must not contain \"events\" (is this a JSON document? name it .json)");
      }
      if (c != '[') {
        if (atEnd()) unexpected("an array of events");
        failHere("wrong type for \"events\": expected an array, got " + describe(c));
      }
      ++p_;
      mode_ = JsonMode::Document;
      format_.encoding = Encoding::Json;
      return true;
    }
    if (key == "format") {
      once(sawFormat_);
      if (c != '"') {
        if (atEnd()) unexpected("a value for \"format\"");
        failHere("wrong type for \"format\": expected the string \"gomalloc-trace\", got " + describe(c));
      }
      const char* v = p_;
      uint64_t vAbs = abs(p_);
      std::string s = readString();
      (void)v;
      if (s != "gomalloc-trace") {
        p_ = at(vAbs);
        failHere(fmt::format("wrong format \"{}\": expected \"gomalloc-trace\" (not a gomalloc trace)", s));
      }
    } else if (key == "version") {
      once(sawVersion_);
      uint64_t vAbs = abs(p_);
      if (c != '-' && !isDigit(c)) {
        if (atEnd()) unexpected("a value for \"version\"");
        failHere("wrong type for \"version\": expected the integer 1, got " + describe(c));
      }
      Number n;
      number(n);
      if (!n.integral || n.neg || n.overflow || n.mag != 1) {
        std::string text = tokenText(vAbs);
        p_ = at(vAbs);
        failHere(fmt::format("unsupported version {}: this reader reads version 1", text));
      }
    } else if (key == "threads") {
      once(sawThreads_);
      threadsWhere_ = whereAt(p_);
      header_.threads = uint32_t(intField("threads", kMaxThreads, "65536"));
    } else if (key == "meta") {
      once(sawMeta_);
      uint64_t vAbs = abs(p_);
      if (c != '{') {
        if (atEnd()) unexpected("a value for \"meta\"");
        failHere("wrong type for \"meta\": expected an object, got " + describe(c));
      }
      uint64_t metaLine = line_, metaStart = lineStart_;
      pin_ = vAbs;
      skipValue();
      std::string_view text(at(vAbs), size_t(p_ - at(vAbs)));
      pin_ = kNone;
      try {
        header_.meta = nlohmann::ordered_json::parse(text);
      } catch (const std::exception& e) {
        Where w;
        w.line = metaLine;
        w.column = vAbs - metaStart + 1;
        w.afterEvents = state_ == State::AfterEvents;
        throw TraceError(path_, w, std::string("\"meta\" is not valid JSON: ") + e.what());
      }
    } else {
      if (key == "op") sawOp_ = true;
      else unknownKey(key, keyLine, true);
      skipValue();  // unknown keys are ignored
    }
    return false;
  }
  // After a header member: ',' (then the next key) or '}' (returns false).
  bool headerNext() {
    char c = ws();
    if (c == ',') {
      ++p_;
      if (ws() != '"') unexpected("a key string");
      return true;
    }
    if (c != '}') unexpected("',' or '}'");
    closeAt_ = p_;
    ++p_;
    return false;
  }
  void headerChecks() {
    if (!sawFormat_) failAt(closeAt_, "missing \"format\": \"gomalloc-trace\" (not a gomalloc trace)");
    if (!sawVersion_) failAt(closeAt_, "missing \"version\"");
    setHeaderComplete();
  }
  // Parses header members until "events" opens (returns true) or the object closes (false).
  bool headerMembers(bool first) {
    if (first) {
      char c = ws();
      if (c == '}') {
        closeAt_ = p_;
        ++p_;
        return false;
      }
      if (c != '"') unexpected("a key string or '}'");
    }
    for (;;) {
      if (headerMember()) return true;
      if (!headerNext()) return false;
    }
  }

  // ---- events ----
  void event(Event& ev);
  bool fastEvent(Event& ev);
  size_t fastRun(Event* out, size_t n);
  void afterLineEvent() {
    char c = spaces();
    if (c == '\n' || atEnd()) return;
    failHere("expected the end of the line after an event (JSON Lines: one event per line), got " + shown(c));
  }

  JsonMode mode_;
  State state_ = State::Start;
  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
  char* p_ = nullptr;
  char* end_ = nullptr;
  uint64_t base_ = 0;
  uint64_t line_ = 1, lineStart_ = 0;
  uint64_t pin_ = kNone;
  bool eof_ = false;
  bool inEvent_ = false;
  bool oneLine_ = false;  // ws() stops at a newline
  uint64_t objLine_ = 0, objColumn_ = 0, objLineStart_ = 0, objAbs_ = 0;
  const char* closeAt_ = nullptr;
  bool sawFormat_ = false, sawVersion_ = false, sawThreads_ = false, sawMeta_ = false, sawEvents_ = false;
  bool sawOp_ = false;
  bool fast_ = true;  // fastEvent first (GOMALLOC_JSON_GENERAL unset)
};

// The fast path: an event written the way the writers write it (keys in the canonical order op, thread, id,
// size, scan, ts; no space, or one after ':' and ','), plain integers, every value in range. Anything else
// (another order, an unknown or duplicate key, an escape, a leading zero, a value out of range, a newline) is
// refused having consumed nothing, and the general parser below reads the event, so every message and rule is
// its own. The NUL sentinel at end_ fails every comparison and ends every number, and the kPad bytes allocated
// after it keep the loads inside the buffer: a literal is compared from a byte at or before end_ (at most 23
// bytes), and a number is loaded 8 bytes at a time from at most 16 bytes after its first digit.

// 8 bytes at q, the first in the low byte (the machine is little-endian: x86-64).
static_assert(std::endian::native == std::endian::little, "the fast path's word loads read bytes in order");
inline uint64_t load8(const char* q) {
  uint64_t w;
  std::memcpy(&w, q, 8);
  return w;
}
inline uint32_t load4(const char* q) {
  uint32_t w;
  std::memcpy(&w, q, 4);
  return w;
}
// Whether the bytes at q are the literal text (without its NUL): whole words, the last one overlapping.
template <size_t N>
inline bool is(const char* q, const char (&text)[N]) {
  constexpr size_t n = N - 1;
  static_assert(n >= 4 && n <= 24);
  if constexpr (n < 8) {
    return load4(q) == load4(text) && load4(q + n - 4) == load4(text + n - 4);
  } else if constexpr (n <= 16) {
    return load8(q) == load8(text) && load8(q + n - 8) == load8(text + n - 8);
  } else {
    return load8(q) == load8(text) && load8(q + 8) == load8(text + 8) && load8(q + n - 8) == load8(text + n - 8);
  }
}
// The value of the len (1..8) digits in the high bytes of t (t = the bytes ^ '0' shifted left by 8 * (8 - len),
// zeros below them): pairs, then quadruples, then the eight.
[[gnu::always_inline]] inline uint64_t swarValue(uint64_t t) {
  t = (t * 10 + (t >> 8)) & 0x00FF00FF00FF00FFu;
  t = (t * 100 + (t >> 16)) & 0x0000FFFF0000FFFFu;
  return (t * 10000 + (t >> 32)) & 0xFFFFFFFFu;
}
constexpr uint64_t kPow10[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
// An unsigned integer at q of 1 to 19 digits (so it fits 64 bits) without a leading zero, not followed by a
// fraction or an exponent: its value in v and q after it. Reads 8 bytes at a time: a byte b is a digit if
// b ^ '0' is below 10, i.e. neither its high nibble nor that of (b ^ '0') + 6 is set (a carry out of a
// non-digit byte only reaches the bytes after it).
[[gnu::always_inline]] inline bool digits(const char*& q, uint64_t& v) {
  if (isDigit(q[0]) && !isDigit(q[1])) {  // one digit (a thread, mostly): a branch the CPU predicts
    if (q[1] == '.' || q[1] == 'e' || q[1] == 'E') return false;
    v = unsigned(q[0] - '0');
    ++q;
    return true;
  }
  const char* s = q;
  uint64_t x = 0;
  for (int chunk = 0; chunk < 3; chunk++) {
    uint64_t t = load8(s) ^ 0x3030303030303030u;
    uint64_t nonDigit = (t | (t + 0x0606060606060606u)) & 0xF0F0F0F0F0F0F0F0u;
    unsigned len = nonDigit ? unsigned(__builtin_ctzll(nonDigit)) >> 3 : 8;
    if (len == 0) break;
    x = x * kPow10[len] + swarValue(t << (8 * (8 - len)));
    s += len;
    if (len < 8) break;
  }
  size_t n = size_t(s - q);
  if (n == 0 || n > 19 || (*q == '0' && n > 1) || *s == '.' || *s == 'e' || *s == 'E') return false;
  v = x;
  q = s;
  return true;
}

// The fields of an event the fast path has read (line and column are set by its caller).
inline void setEvent(Event& ev, Op op, uint64_t thread, bool hasThread, uint64_t id, uint64_t size, bool scan,
                     uint64_t ts, bool hasTs) {
  ev.op = op;
  ev.thread = uint16_t(thread);
  ev.hasThread = hasThread;
  ev.id = id;
  ev.size = size;
  ev.scan = scan;
  ev.ts = ts;
  ev.hasTs = hasTs;
}

// The writers' own form (no spaces): returns the end of the event (after its '}'), or null.
const char* exactEvent(const char* q, Event& ev) {
  uint64_t thread = 0, id = 0, size = 0, ts = 0;
  bool hasThread = true, scan = false, hasTs = false;
  Op op;
  if (is(q, "{\"op\":\"alloc\",\"thread\":")) {
    op = Op::Alloc;
    q += 23;
    if (!digits(q, thread) || thread >= kMaxThreads || !is(q, ",\"id\":")) return nullptr;
    q += 6;
    if (!digits(q, id) || !is(q, ",\"size\":")) return nullptr;
    q += 8;
    if (!digits(q, size) || size > kMaxSize) return nullptr;
    if (*q == ',' && is(q, ",\"scan\":true")) {
      q += 12;
      scan = true;
    }
  } else if (is(q, "{\"op\":\"free\",\"thread\":")) {
    op = Op::Free;
    q += 22;
    if (!digits(q, thread) || thread >= kMaxThreads || !is(q, ",\"id\":")) return nullptr;
    q += 6;
    if (!digits(q, id)) return nullptr;
  } else if (is(q, "{\"op\":\"gc\"")) {
    op = Op::Gc;
    q += 10;
    hasThread = *q == ',' && is(q, ",\"thread\":");
    if (hasThread) {
      q += 10;
      if (!digits(q, thread) || thread >= kMaxThreads) return nullptr;
    }
  } else {
    return nullptr;
  }
  if (*q == ',') {
    if (!is(q, ",\"ts\":")) return nullptr;
    q += 6;
    if (!digits(q, ts)) return nullptr;
    hasTs = true;
  }
  if (*q != '}') return nullptr;
  setEvent(ev, op, thread, hasThread, id, size, scan, ts, hasTs);
  return q + 1;
}

// The same with no space or one after ':' and ',' (as hand-written traces and some tools have it).
const char* spacedEvent(const char* q, Event& ev) {
  auto lit = [&](const char* text, size_t n) {
    if (std::memcmp(q, text, n) != 0) return false;
    q += n;
    return true;
  };
  auto space = [&] { q += *q == ' '; };
  // ',' '"key"' ':' with optional single spaces after ',' and ':'; consumes nothing unless it matches.
  auto key = [&](const char* quoted, size_t n) {
    const char* r = q;
    if (*r != ',') return false;
    ++r;
    r += *r == ' ';
    if (std::memcmp(r, quoted, n) != 0 || r[n] != ':') return false;
    r += n + 1;
    r += *r == ' ';
    q = r;
    return true;
  };
  auto num = [&](uint64_t& v, uint64_t max) { return digits(q, v) && v <= max; };
  if (!lit("{\"op\":", 6)) return nullptr;
  space();
  Op op;
  if (lit("\"alloc\"", 7)) op = Op::Alloc;
  else if (lit("\"free\"", 6)) op = Op::Free;
  else if (lit("\"gc\"", 4)) op = Op::Gc;
  else return nullptr;
  uint64_t thread = 0, id = 0, size = 0, ts = 0;
  bool hasThread = false, scan = false, hasTs = false;
  if (key("\"thread\"", 8)) {
    if (!num(thread, kMaxThreads - 1)) return nullptr;
    hasThread = true;
  }
  if (op != Op::Gc) {
    if (!hasThread || !key("\"id\"", 4) || !num(id, ~uint64_t{0})) return nullptr;
    if (op == Op::Alloc) {
      if (!key("\"size\"", 6) || !num(size, kMaxSize)) return nullptr;
      if (key("\"scan\"", 6)) {
        if (!lit("true", 4)) return nullptr;
        scan = true;
      }
    }
  }
  if (key("\"ts\"", 4)) {
    if (!num(ts, ~uint64_t{0})) return nullptr;
    hasTs = true;
  }
  if (*q != '}') return nullptr;
  setEvent(ev, op, thread, hasThread, id, size, scan, ts, hasTs);
  return q + 1;
}

inline bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// p_ is at the event's '{'.
[[gnu::noinline]] bool JsonReader::fastEvent(Event& ev) {
  const char* e = exactEvent(p_, ev);
  if (!e) e = spacedEvent(p_, ev);
  if (!e) return false;
  p_ = const_cast<char*>(e);
  return true;
}

// Reads on after an event that the general loop of fill() has just read (p_ after its '}'; in JSON Lines also
// after afterLineEvent), up to n events, as long as the separator and the next event are the fast path's: in a
// document ',' between whitespace, in JSON Lines a newline and any whitespace. It stops (having consumed
// nothing of the next event and its separator) at anything else, at the end of the window, or when the
// separator reaches it, and the general loop goes on from there. In JSON Lines the rest of an event's line is
// checked by afterLineEvent unless it is just a newline.
size_t JsonReader::fastRun(Event* out, size_t n) {
  const bool lines = mode_ == JsonMode::Lines;
  const char* q = p_;
  uint64_t line = line_, lineStart = lineStart_;
  size_t k = 0;
  while (k < n) {
    const char* r = q;
    uint64_t ln = line, ls = lineStart;
    if (lines) {
      if (*r != '\n') break;
    } else {
      while (isSpace(*r)) ++r;
      if (*r == '\n') {  // the writers' ",\n" has the newline after the ','; this is the other style
        ++r, ++ln, ls = abs(r);
        while (isSpace(*r)) ++r;
      }
      if (*r != ',') break;
      ++r;
    }
    for (;;) {  // whitespace, lines counted (the end of the window is not whitespace)
      if (*r == '\n') {
        ++r, ++ln, ls = abs(r);
      } else if (isSpace(*r)) {
        ++r;
      } else {
        break;
      }
    }
    if (*r != '{') break;
    Event& ev = out[k];
    const char* e = exactEvent(r, ev);
    if (!e) e = spacedEvent(r, ev);
    if (!e) break;
    ev.line = ln;
    ev.column = uint32_t(std::min<uint64_t>(abs(r) - ls + 1, ~uint32_t{0}));
    q = e, line = ln, lineStart = ls;
    ++k;
    if (lines && *q != '\n') {  // spaces or a CR before the newline, or something else (an error)
      p_ = const_cast<char*>(q);
      line_ = line, lineStart_ = lineStart;
      objLine_ = ev.line, objColumn_ = ev.column;
      inEvent_ = true;
      afterLineEvent();  // may refill the window
      inEvent_ = false;
      q = p_;
    }
    ++events_;
  }
  p_ = const_cast<char*>(q);
  line_ = line, lineStart_ = lineStart;
  return k;
}

void JsonReader::event(Event& ev) {
  if (size_t(end_ - p_) < kEventSlack) ensure(kEventSlack);
  inEvent_ = true;
  objLine_ = line_;
  objLineStart_ = lineStart_;
  objColumn_ = column(p_);
  if (opts_.recover) pin_ = objAbs_ = abs(p_);  // recoverEvent goes back to the '{'
  if (*p_ != '{') {
    if (atEnd()) unexpected("an event object");
    failHere("expected an event object '{', got " + describe(*p_));
  }
  ev.line = objLine_;
  ev.column = uint32_t(std::min<uint64_t>(objColumn_, ~uint32_t{0}));
  if (fast_ && fastEvent(ev)) {
    inEvent_ = false;
    pin_ = kNone;
    return;
  }
  ++p_;
  ev.hasTs = ev.hasThread = ev.scan = false;
  ev.id = ev.size = ev.ts = 0;
  ev.thread = 0;
  unsigned seen = 0;
  char c = ws();
  if (c == '}') {
    ++p_;
    failObject("missing required field \"op\"");
  }
  for (;;) {
    if (c != '"') unexpected("a key string");
    uint64_t keyAbs = abs(p_);
    unsigned field = 0;
    std::string decoded;
    std::string_view key = stringAt(decoded);
    const char *ks = key.data(), *ke = ks + key.size();
    size_t kn = key.size();
    switch (kn) {
      case 2:
        if (ks[0] == 'o' && ks[1] == 'p') field = kOp;
        else if (ks[0] == 'i' && ks[1] == 'd') field = kId;
        else if (ks[0] == 't' && ks[1] == 's') field = kTs;
        break;
      case 4:
        if (std::memcmp(ks, "size", 4) == 0) field = kSize;
        else if (std::memcmp(ks, "scan", 4) == 0) field = kScan;
        break;
      case 6:
        if (std::memcmp(ks, "thread", 6) == 0) field = kThread;
        break;
      default: break;
    }
    if (field & seen) {
      std::string key(ks, ke);
      p_ = at(keyAbs);
      badValue("duplicate key \"" + key + "\" in an event");
    }
    seen |= field;
    if (!field) unknownKey(key, line_, false);  // before the value: key may point into the window
    c = ws();
    if (c != ':') unexpected("':' after a key");
    ++p_;
    c = ws();
    switch (field) {
      case kOp: {
        if (c != '"') {
          if (atEnd()) unexpected("a value for \"op\"");
          badValue("wrong type for \"op\": expected \"alloc\", \"free\" or \"gc\", got " + describe(c));
        }
        uint64_t vAbs = abs(p_);
        std::string dec;
        std::string_view v = stringAt(dec);
        const char* s = v.data();
        size_t n = v.size();
        if (n == 5 && std::memcmp(s, "alloc", 5) == 0) {
          ev.op = Op::Alloc;
        } else if (n == 4 && std::memcmp(s, "free", 4) == 0) {
          ev.op = Op::Free;
        } else if (n == 2 && s[0] == 'g' && s[1] == 'c') {
          ev.op = Op::Gc;
        } else {
          std::string shownOp(v.substr(0, 40));
          p_ = at(vAbs);
          badValue(fmt::format("unknown op \"{}\": expected \"alloc\", \"free\" or \"gc\"", shownOp));
        }
        break;
      }
      case kThread:
        ev.thread = uint16_t(intField("thread", kMaxThreads - 1, "65535"));
        ev.hasThread = true;
        break;
      case kId: ev.id = intField("id", ~uint64_t{0}, "2^64-1"); break;
      case kSize: ev.size = intField("size", kMaxSize, "2^40 = 1099511627776"); break;
      case kTs:
        ev.ts = intField("ts", ~uint64_t{0}, "2^64-1");
        ev.hasTs = true;
        break;
      case kScan: ev.scan = boolField("scan"); break;
      default: skipValue(); break;  // unknown keys are ignored
    }
    c = ws();
    if (c == ',') {
      ++p_;
      c = ws();
      continue;
    }
    if (c == '}') {
      ++p_;
      break;
    }
    unexpected("',' or '}' in an event object");
  }
  if (!(seen & kOp)) failObject("missing required field \"op\"");
  switch (ev.op) {
    case Op::Alloc:
      if (!(seen & kThread)) failObject("missing required field \"thread\" (alloc needs thread, id and size)");
      if (!(seen & kId)) failObject("missing required field \"id\" (alloc needs thread, id and size)");
      if (!(seen & kSize)) failObject("missing required field \"size\" (alloc needs thread, id and size)");
      break;
    case Op::Free:
      if (!(seen & kThread)) failObject("missing required field \"thread\" (free needs thread and id)");
      if (!(seen & kId)) failObject("missing required field \"id\" (free needs thread and id)");
      ev.size = 0, ev.scan = false;  // a free's size (some importers write it) is not part of the model
      break;
    case Op::Gc: ev.id = ev.size = 0, ev.scan = false; break;
  }
  inEvent_ = false;
  pin_ = kNone;
}

size_t JsonReader::fill(Event* out, size_t n) {
  size_t k = 0;
  while (k < n) {
    switch (state_) {
      case State::Start: {
        ensure(3);
        if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;  // a UTF-8 byte order mark
        char c = ws();
        if (atEnd()) failHere("empty file: expected a JSON object (a gomalloc trace)");
        if (c != '{') failHere("not JSON: expected '{' at the start of a gomalloc trace, got " + shown(c));
        ++p_;
        state_ = State::Header;
        uint64_t headerLine = line_;
        if (headerMembers(true)) {
          state_ = State::EventsFirst;  // header keys may follow the events: complete only at the end
          break;
        }
        // The object closed without "events": a JSON Lines header.
        if (mode_ == JsonMode::Document) failAt(closeAt_, "missing \"events\": expected an array of events");
        mode_ = JsonMode::Lines;
        format_.encoding = Encoding::JsonLines;
        if (sawOp_ && !sawFormat_)
          failAt(closeAt_, "the first line is an event, but JSON Lines starts with a header line: "
                           "{\"format\": \"gomalloc-trace\", \"version\": 1}");
        if (line_ != headerLine) failAt(closeAt_, "the JSON Lines header must be on one line");
        headerChecks();
        afterLineEvent();
        state_ = State::Lines;
        break;
      }
      case State::EventsFirst:
      case State::EventsNext: {
        char c = ws();
        if (c == ']') {
          ++p_;
          state_ = State::AfterEvents;
          if (headerNext()) {
            headerMembers(false);
          }
          headerChecks();
          if (ws() != 0 || !atEnd()) failHere("unexpected content after the JSON document");
          checkEnd();
          state_ = State::Done;
          break;
        }
        if (state_ == State::EventsNext) {
          if (c != ',') {
            inEvent_ = true;
            unexpected("',' or ']' after an event");
          }
          ++p_;
          ws();
        }
        state_ = State::EventsNext;
        try {
          event(out[k++]);
        } catch (const BadEvent& bad) {
          --k;
          recoverEvent(bad.error);
          ++events_;
          if (k > 0) return k;  // the events of one read() have consecutive indices
          batchFirst_ = events_;
          break;
        }
        ++events_;
        if (fast_) k += fastRun(out + k, n - k);
        break;
      }
      case State::Lines: {
        char c = ws();
        if (atEnd()) {
          checkEnd();
          state_ = State::Done;
          break;
        }
        (void)c;
        uint64_t line = line_;
        oneLine_ = true;
        try {
          event(out[k++]);
        } catch (const BadEvent& bad) {
          --k;
          recoverEvent(bad.error);
          oneLine_ = false;
          ++events_;
          if (k > 0) return k;  // the events of one read() have consecutive indices
          batchFirst_ = events_;
          break;
        }
        oneLine_ = false;
        if (line_ != line) {
          --k;
          Where w;
          w.event = events_, w.line = objLine_, w.column = objColumn_;
          throw TraceError(path_, w, "an event spans several lines (JSON Lines: one event per line)");
        }
        inEvent_ = true;
        afterLineEvent();
        inEvent_ = false;
        ++events_;
        if (fast_) k += fastRun(out + k, n - k);
        break;
      }
      case State::Done: return k;
      case State::Header:
      case State::AfterEvents: return k;  // not reached
    }
  }
  return k;
}

}  // namespace

std::unique_ptr<TraceReader> makeJsonReader(std::string path, Compression c, JsonMode mode, const ReadOptions& o,
                                            std::unique_ptr<Input> input) {
  return std::make_unique<JsonReader>(std::move(path), c, mode, o, std::move(input));
}

}  // namespace gomalloc::traces::detail
