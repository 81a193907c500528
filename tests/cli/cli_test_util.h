// Helpers for tests that run the real gomalloc binary (GOMALLOC_BINARY) from the source tree, and checks of
// the text formats CI systems read (markdown tables, XML). Header-only; the reports tests use the checks too.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace gomalloc::testing {

// Sanitizer builds cannot run the preloaded backends (LD_PRELOAD'ing an allocator under the sanitizer's own).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif
// A non-Go backend for tests: mimalloc (preloaded), or in sanitizer builds the system malloc.
inline const char* otherAllocator() { return kSanitized ? "system" : "mimalloc"; }

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void spit(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// A fresh directory, removed with everything in it at the end of the test.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    path_ = std::filesystem::temp_directory_path() / ("gomalloc-test-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::filesystem::path operator/(const std::string& f) const { return path_ / f; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int code = -1;
  std::string out, err;
};

// Runs `sh -c "cd SOURCE && command"`, capturing stdout and stderr in files of dir.
inline RunResult runShell(const std::string& command, const ScratchDir& dir) {
  const auto out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd = "cd '" GOMALLOC_SOURCE_DIR "' && " + command + " >'" + out.string() + "' 2>'" +
                          err.string() + "' </dev/null";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  r.out = slurp(out);
  r.err = slurp(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

// Runs the gomalloc binary with args (shell words) from the source tree.
inline RunResult gomalloc(const std::string& args, const ScratchDir& dir) {
  return runShell("'" GOMALLOC_BINARY "' " + args, dir);
}

// A markdown table check: every "|" row has the header's number of unescaped pipes and ends with one, and the
// second row is the rule. Returns the number of columns, or -1 with *why set.
inline int markdownTableColumns(const std::string& md, std::string* why) {
  std::istringstream in(md);
  std::string line;
  int pipes0 = -1, rows = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '|') continue;
    int pipes = 0;
    for (size_t i = 0; i < line.size(); i++) pipes += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    if (pipes0 < 0) pipes0 = pipes;
    if (pipes != pipes0 || line.back() != '|') return *why = "irregular row: " + line, -1;
    if (rows == 1 && line.find("---") == std::string::npos) return *why = "no rule under the header", -1;
    rows++;
  }
  if (rows < 3) return *why = "fewer than 3 table rows", -1;
  return pipes0 - 1;
}

// XML well-formedness (the subset JUnit files use): balanced tags, quoted attributes, known entities only.
inline bool wellFormedXml(const std::string& x, std::string* why) {
  std::vector<std::string> stack;
  size_t i = 0;
  if (x.rfind("<?xml ", 0) == 0) i = x.find("?>") + 2;
  bool root = false;
  while (i < x.size()) {
    if (x[i] == '&') {
      const size_t semi = x.find(';', i);
      const std::string ent = semi == std::string::npos ? "" : x.substr(i, semi - i + 1);
      if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&#39;")
        return *why = "bad entity at " + std::to_string(i), false;
      i = semi + 1;
      continue;
    }
    if (x[i] != '<') {
      if (x[i] == '>') return *why = "stray > at " + std::to_string(i), false;
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(x[i]))) return *why = "text outside the root", false;
      i++;
      continue;
    }
    const size_t end = x.find('>', i);
    if (end == std::string::npos) return *why = "unclosed tag", false;
    const std::string tag = x.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return *why = "< inside a tag", false;
    if (std::count(tag.begin(), tag.end(), '"') % 2) return *why = "unbalanced quotes in " + tag, false;
    if (!tag.empty() && tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return *why = "mismatched </" + tag.substr(1) + ">", false;
      stack.pop_back();
    } else {
      if (stack.empty() && root) return *why = "a second root element", false;
      root = true;
      if (!tag.empty() && tag.back() != '/') stack.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = end + 1;
  }
  if (!stack.empty()) return *why = "unclosed <" + stack.back() + ">", false;
  if (!root) return *why = "no root element", false;
  return true;
}

}  // namespace gomalloc::testing
