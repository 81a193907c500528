#include "reports/json_input.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <unordered_set>
#include <vector>

namespace gomalloc::reports {

using Json = nlohmann::ordered_json;

namespace {

// An iterator over the text that records how far the parser has read, so that errors found in the parser
// callback (duplicate keys, nesting) and number overflows, which nlohmann reports without a position, get one.
class TrackingIter {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackingIter(const char* p, const char** furthest) : p_(p), furthest_(furthest) {}
  reference operator*() const { return *p_; }
  TrackingIter& operator++() {
    ++p_;
    if (p_ > *furthest_) *furthest_ = p_;
    return *this;
  }
  TrackingIter operator++(int) {
    TrackingIter old = *this;
    ++*this;
    return old;
  }
  bool operator==(const TrackingIter& o) const { return p_ == o.p_; }
  bool operator!=(const TrackingIter& o) const { return p_ != o.p_; }

 private:
  const char* p_;
  const char** furthest_;
};

// An error at a byte offset of the text.
struct Located {
  size_t offset;
  std::string what;
};

// One open object or array while parsing, for duplicate keys and the paths that name them.
struct Frame {
  bool object;
  std::string path;  // "" for the top level, "summary", "variants[1].reports[0]"
  std::unordered_set<std::string> keys;
  std::string lastKey;
  size_t elements = 0;  // arrays: elements completed
};

std::string where(const Frame& f) {
  if (f.path.empty()) return "the top-level object";
  return f.path;
}

std::string childPath(const Frame& parent) {
  if (parent.object) return parent.path.empty() ? parent.lastKey : parent.path + "." + parent.lastKey;
  return fmt::format("{}[{}]", parent.path, parent.elements);
}

bool numberChar(char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'; }

std::string position(std::string_view text, size_t offset) {
  if (offset > text.size()) offset = text.size();
  size_t line = 1, lineStart = 0;
  for (size_t i = 0; i < offset; i++)
    if (text[i] == '\n') line++, lineStart = i + 1;
  return fmt::format("line {}, column {}", line, offset - lineStart + 1);
}

// nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..." without the
// prefix and the position (given separately).
std::string parserMessage(const std::string& what) {
  const size_t at = what.find("parse error");
  if (at != std::string::npos) {
    const size_t colon = what.find(": ", at);
    if (colon != std::string::npos) return what.substr(colon + 2);
  }
  const size_t bracket = what.find("] ");
  return bracket != std::string::npos ? what.substr(bracket + 2) : what;
}

}  // namespace

std::string limitText(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB"};
  int u = 0;
  uint64_t whole = bytes;
  while (u < 3 && whole >= 1024 && whole % 1024 == 0) whole /= 1024, u++;
  return fmt::format("{} {}", whole, units[u]);
}

Json parseJsonChecked(std::string_view text, const std::string& name) {
  const char* begin = text.data();
  const char* furthest = begin;
  std::vector<Frame> frames;
  auto readSoFar = [&] { return size_t(furthest - begin); };
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    using E = Json::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start: {
        if (depth >= kMaxJsonDepth)
          throw Located{readSoFar() - 1, fmt::format("nested more than {} levels deep", kMaxJsonDepth)};
        std::string path = frames.empty() ? "" : childPath(frames.back());
        frames.push_back(Frame{event == E::object_start, std::move(path), {}, {}, 0});
        break;
      }
      case E::key: {
        Frame& f = frames.back();
        std::string key = parsed.get<std::string>();
        if (!f.keys.insert(key).second) {
          // The parser has just read the key's closing quote; its opening quote is the previous unescaped one.
          size_t close = readSoFar() - 1, open = close;
          while (open > 0) {
            open--;
            if (text[open] != '"') continue;
            size_t slashes = 0;
            while (open > slashes && text[open - 1 - slashes] == '\\') slashes++;
            if (slashes % 2 == 0) break;
          }
          throw Located{open, fmt::format("duplicate key {} in {}", Json(key).dump(), where(f))};
        }
        f.lastKey = std::move(key);
        break;
      }
      case E::object_end:
      case E::array_end:
        frames.pop_back();
        if (!frames.empty() && !frames.back().object) frames.back().elements++;
        break;
      case E::value:
        if (!frames.empty() && !frames.back().object) frames.back().elements++;
        break;
    }
    return true;
  };
  try {
    return Json::parse(TrackingIter(begin, &furthest), TrackingIter(begin + text.size(), &furthest), callback);
  } catch (const Located& e) {
    throw JsonInputError(fmt::format("{}: {}: {}", name, position(text, e.offset), e.what));
  } catch (const nlohmann::json::parse_error& e) {
    const size_t at = e.byte > 0 ? e.byte - 1 : 0;
    throw JsonInputError(fmt::format("{}: not valid JSON: {}: {}", name, position(text, at), parserMessage(e.what())));
  } catch (const nlohmann::json::out_of_range& e) {
    // Number overflow (406): the parser has read past the number (and perhaps the character after it).
    size_t end = readSoFar();
    while (end > 0 && !numberChar(text[end - 1])) end--;
    size_t start = end;
    while (start > 0 && numberChar(text[start - 1])) start--;
    if (start == end)
      throw JsonInputError(fmt::format("{}: not valid JSON: {}: {}", name, position(text, readSoFar()), parserMessage(e.what())));
    throw JsonInputError(fmt::format("{}: not valid JSON: {}: number {} is out of range (beyond what a double holds)", name,
                                     position(text, start), text.substr(start, end - start)));
  }
}

Json readJsonFile(const std::string& path, const JsonInput& in) {
  const std::string name = *in.kind ? fmt::format("{} {}", in.kind, path) : path;
  auto fail = [&](const std::string& what) { return JsonInputError(fmt::format("{}: {}", name, what)); };
  if (path.empty()) throw JsonInputError(fmt::format("{}: an empty file name", *in.kind ? in.kind : "report"));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::string why = std::strerror(errno);
    if (!why.empty()) why[0] = char(std::tolower(static_cast<unsigned char>(why[0])));
    throw fail("cannot read it: " + why);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw fail(std::string("cannot read it: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw fail("is a directory, not a JSON file");
  const std::string tooLarge = fmt::format("larger than {}, the size limit for {}", limitText(in.limit), in.plural);
  if (S_ISREG(st.st_mode) && uint64_t(st.st_size) > in.limit) throw fail(tooLarge);
  std::string text;
  if (S_ISREG(st.st_mode)) text.reserve(size_t(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const size_t want = size_t(std::min<uint64_t>(sizeof buf, in.limit + 1 - text.size()));  // at most limit + 1
    const ssize_t n = ::read(fd, buf, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw fail(std::string("cannot read it: ") + std::strerror(errno));
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
    if (text.size() > in.limit) throw fail(tooLarge);  // a pipe or a device (/dev/zero) never says its size
  }
  return parseJsonChecked(text, name);
}

}  // namespace gomalloc::reports
