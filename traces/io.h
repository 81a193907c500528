// Byte streams under the trace readers and writers: files (read or memory-mapped), memory, and the zstd and
// gzip codecs on top of either. Readers see decompressed bytes; compression is chosen by magic bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "traces/event.h"

namespace gomalloc::traces {

// A source of decompressed bytes. Errors (I/O, corrupt or truncated compressed data) throw
// std::runtime_error with a message that does not name the file (the reader adds file and position).
class Input {
 public:
  virtual ~Input() = default;
  // Reads up to n bytes; returns 0 only at the end of the stream.
  virtual size_t read(char* dst, size_t n) = 0;
  // Bytes consumed from the underlying file or memory so far (compressed bytes for a codec).
  virtual uint64_t rawBytes() const = 0;
};

// The whole of a file mapped read-only (or, for an empty file, nothing).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws std::runtime_error
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  // Tells the kernel the bytes before offset will not be read again, so their pages leave this process's
  // resident set (reading a large file then costs no more memory than a window of it).
  void consumed(size_t offset);

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
  size_t released_ = 0;
};

std::unique_ptr<Input> fileInput(const std::string& path);  // "-": standard input; throws std::runtime_error naming the path
std::unique_ptr<Input> memoryInput(std::string_view data);  // data must outlive the input
std::unique_ptr<Input> zstdInput(std::unique_ptr<Input> inner);
std::unique_ptr<Input> gzipInput(std::unique_ptr<Input> inner);

// Compression named by the first bytes of a stream (zstd 28 b5 2f fd, gzip 1f 8b).
Compression sniffCompression(std::string_view head);
// Wraps inner in the decoder for c.
std::unique_ptr<Input> decompress(std::unique_ptr<Input> inner, Compression c);

// A destination for bytes. finish() completes the output (flushes codecs; for a file, renames the temporary
// file into place, so a failed write never leaves a partial file). Destroying an unfinished sink discards.
// Errors throw std::runtime_error in the user's terms ("cannot write out.gmt: No space left on device").
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const char* data, size_t n) = 0;
  virtual void finish() = 0;
};

// A file or "-" (stdout), written safely: atomically for a regular file (traces/output.h says how).
std::unique_ptr<Sink> fileSink(const std::string& path);
std::unique_ptr<Sink> stringSink(std::string& out);        // appends to out
std::unique_ptr<Sink> compress(std::unique_ptr<Sink> inner, Compression c, int level = 0);  // 0: default

}  // namespace gomalloc::traces
