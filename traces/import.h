// What every importer shares (`gomalloc import FORMAT FILE -o OUT`, docs/trace-format.md): the table of formats
// the command registers, and the reading of an input (plain, .zst or .gz by its first bytes; "-" for standard
// input, spooled to a temporary file so it can be read twice) a line at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "traces/io.h"

namespace gomalloc::traces {

// A format-specific option of one importer: `--name VALUE`, VALUE one of values.
struct ImportOption {
  std::string name, help;
  std::vector<std::string> values;
  std::string defaultValue;
};

// One import format. run(input, output, options) writes the trace at output (any encoding, by suffix; atomic)
// and returns what the command prints after "imported INPUT: " (the counts and the output's name). options holds
// every option of the format, defaulted. Throws TraceError naming the file and line on bad input; nothing is
// written then.
struct ImportFormat {
  std::string name, summary, inputHelp;
  std::vector<ImportOption> options;
  std::function<std::string(const std::string& input, const std::string& output,
                            const std::map<std::string, std::string>& options)>
      run;
};

// Every format, in the order `import --help` lists them.
const std::vector<ImportFormat>& importFormats();

// An importer's input: the file itself, or standard input ("-") copied to a temporary file (removed by the
// destructor, or by a fatal signal). path() is what to open (as often as needed); shown() is the name for messages.
class ImportInput {
 public:
  explicit ImportInput(const std::string& path);
  ~ImportInput();
  ImportInput(const ImportInput&) = delete;
  ImportInput& operator=(const ImportInput&) = delete;
  const std::string& path() const { return spooled_.empty() ? shown_ : spooled_; }
  const std::string& shown() const { return shown_; }

 private:
  std::string shown_, spooled_;
  int handle_ = -1;
};

// The decompressed bytes of a file, its compression found by its first bytes (whatever its name).
std::unique_ptr<Input> openSniffed(const std::string& path);

// Lines of a decompressed input, without their '\n'.
class LineReader {
 public:
  explicit LineReader(std::unique_ptr<Input> in) : in_(std::move(in)) {}
  // The next line (a last line without '\n' included); false at the end. Throws std::runtime_error on I/O
  // errors and corrupt compressed data.
  bool next(std::string& line);
  uint64_t number() const { return number_; }  // 1-based number of the line last returned

 private:
  std::unique_ptr<Input> in_;
  std::vector<char> buf_ = std::vector<char>(size_t{1} << 20);
  size_t pos_ = 0, len_ = 0;
  uint64_t number_ = 0;
};

}  // namespace gomalloc::traces
