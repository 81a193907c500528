#include "traces/io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>
#include <vector>

namespace gomalloc::traces {
namespace {

std::string errnoText() { return std::strerror(errno); }

class FileInput : public Input {
 public:
  // "-" is standard input (a duplicate of it, closed with the input).
  explicit FileInput(const std::string& path)
      : fd_(path == "-" ? ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + errnoText());
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd_);
      throw std::runtime_error("cannot read " + path + ": it is a directory");
    }
#ifdef POSIX_FADV_SEQUENTIAL
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  }
  ~FileInput() override { ::close(fd_); }
  size_t read(char* dst, size_t n) override {
    for (;;) {
      ssize_t got = ::read(fd_, dst, n);
      if (got >= 0) {
        bytes_ += uint64_t(got);
        return size_t(got);
      }
      if (errno != EINTR) throw std::runtime_error("read error: " + errnoText());
    }
  }
  uint64_t rawBytes() const override { return bytes_; }

 private:
  int fd_;
  uint64_t bytes_ = 0;
};

class MemoryInput : public Input {
 public:
  explicit MemoryInput(std::string_view d) : data_(d) {}
  size_t read(char* dst, size_t n) override {
    size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(dst, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  uint64_t rawBytes() const override { return pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Shared by the codecs: a buffer of compressed bytes refilled from the inner input.
class CodecInput : public Input {
 public:
  explicit CodecInput(std::unique_ptr<Input> inner) : inner_(std::move(inner)), in_(size_t{1} << 17) {}
  uint64_t rawBytes() const override { return inner_->rawBytes(); }

 protected:
  // An error found after some bytes of this read were decoded: those are returned first, and the error by the
  // next read, so that the reader sees every byte before it (and reports the error where they end).
  size_t failAfter(size_t decoded, std::string why) {
    if (decoded == 0) throw std::runtime_error(why);
    pending_ = std::move(why);
    return decoded;
  }
  void throwPending() {
    if (!pending_.empty()) throw std::runtime_error(std::exchange(pending_, std::string()));
  }
  std::string pending_;
  // Makes sure some compressed input is pending; returns false at the end of the inner stream.
  bool fillIn() {
    if (inPos_ < inLen_) return true;
    if (innerEof_) return false;
    inLen_ = inner_->read(in_.data(), in_.size());
    inPos_ = 0;
    if (inLen_ == 0) innerEof_ = true;
    return inLen_ > 0;
  }
  std::unique_ptr<Input> inner_;
  std::vector<char> in_;
  size_t inPos_ = 0, inLen_ = 0;
  bool innerEof_ = false;
};

class ZstdInput : public CodecInput {
 public:
  explicit ZstdInput(std::unique_ptr<Input> inner) : CodecInput(std::move(inner)), ds_(ZSTD_createDStream()) {
    if (!ds_) throw std::runtime_error("out of memory (zstd)");
    ZSTD_initDStream(ds_);
  }
  ~ZstdInput() override { ZSTD_freeDStream(ds_); }
  size_t read(char* dst, size_t n) override {
    throwPending();
    ZSTD_outBuffer out{dst, n, 0};
    while (out.pos == 0) {
      if (!fillIn()) {
        if (!frameDone_) {
          if (trailing()) throw std::runtime_error(kTrailing + std::string("an incomplete zstd frame header"));
          throw std::runtime_error("unexpected end of file: the zstd stream is truncated");
        }
        return 0;
      }
      if (frameDone_) frameOut_ = 0;  // a further frame (concatenated frames are one stream)
      ZSTD_inBuffer in{in_.data(), inLen_, inPos_};
      size_t r = ZSTD_decompressStream(ds_, &out, &in);
      if (ZSTD_isError(r))
        return failAfter(out.pos, (trailing() ? kTrailing : "corrupt zstd data: ") + std::string(ZSTD_getErrorName(r)));
      inPos_ = in.pos;
      frameOut_ += out.pos;
      if (r == 0) frames_++;
      frameDone_ = r == 0;
    }
    return out.pos;
  }

 private:
  static constexpr const char* kTrailing = "data after the end of the zstd stream that is not a zstd frame: ";
  // Bytes after a complete frame that do not start another one with data (a frame that decodes to nothing is
  // a complete frame, so only garbage can fail here before any output).
  bool trailing() const { return frames_ > 0 && frameOut_ == 0; }
  ZSTD_DStream* ds_;
  bool frameDone_ = true;
  uint64_t frames_ = 0, frameOut_ = 0;  // complete frames; bytes out of the current one
};

class GzipInput : public CodecInput {
 public:
  explicit GzipInput(std::unique_ptr<Input> inner) : CodecInput(std::move(inner)) {
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("out of memory (zlib)");
  }
  ~GzipInput() override { inflateEnd(&zs_); }
  size_t read(char* dst, size_t n) override {
    throwPending();
    zs_.next_out = reinterpret_cast<Bytef*>(dst);
    zs_.avail_out = uInt(std::min<size_t>(n, 1u << 30));
    size_t want = zs_.avail_out;
    while (zs_.avail_out == want) {
      if (!fillIn()) {
        if (inMember_) {
          if (trailing()) throw std::runtime_error(kTrailing + std::string("an incomplete gzip header"));
          throw std::runtime_error("unexpected end of file: the gzip stream is truncated");
        }
        return 0;
      }
      if (!inMember_) {  // a further gzip member (concatenated .gz files are one stream)
        inflateReset(&zs_);
        inMember_ = true;
        memberOut_ = 0;
      }
      zs_.next_in = reinterpret_cast<Bytef*>(in_.data() + inPos_);
      zs_.avail_in = uInt(inLen_ - inPos_);
      uInt before = zs_.avail_out;
      int r = inflate(&zs_, Z_NO_FLUSH);
      inPos_ = inLen_ - zs_.avail_in;
      memberOut_ += before - zs_.avail_out;
      if (r == Z_STREAM_END) {
        inMember_ = false;
        members_++;
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        std::string why = zs_.msg ? zs_.msg : "inflate failed";
        return failAfter(want - zs_.avail_out, (trailing() ? kTrailing : "corrupt gzip data: ") + why);
      }
    }
    return want - zs_.avail_out;
  }

 private:
  static constexpr const char* kTrailing = "data after the end of the gzip stream that is not a gzip member: ";
  bool trailing() const { return members_ > 0 && memberOut_ == 0; }
  z_stream zs_{};
  bool inMember_ = true;
  uint64_t members_ = 0, memberOut_ = 0;  // complete members; bytes out of the current one
};

class StringSink : public Sink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void write(const char* data, size_t n) override { out_.append(data, n); }
  void finish() override {}

 private:
  std::string& out_;
};

class ZstdSink : public Sink {
 public:
  ZstdSink(std::unique_ptr<Sink> inner, int level)
      : inner_(std::move(inner)), cs_(ZSTD_createCStream()), out_(ZSTD_CStreamOutSize()) {
    if (!cs_) throw std::runtime_error("out of memory (zstd)");
    // The frame carries a checksum of its content, so a changed byte in a .json.zst or .jsonl.zst is found
    // (a .gmt has its own block checksums; gzip always has a CRC).
    ZSTD_CCtx_setParameter(cs_, ZSTD_c_compressionLevel, level ? level : 3);
    ZSTD_CCtx_setParameter(cs_, ZSTD_c_checksumFlag, 1);
  }
  ~ZstdSink() override { ZSTD_freeCStream(cs_); }
  void write(const char* data, size_t n) override {
    ZSTD_inBuffer in{data, n, 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      size_t r = ZSTD_compressStream(cs_, &out, &in);
      if (ZSTD_isError(r)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(r));
      inner_->write(out_.data(), out.pos);
    }
  }
  void finish() override {
    for (;;) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      size_t r = ZSTD_endStream(cs_, &out);
      if (ZSTD_isError(r)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(r));
      inner_->write(out_.data(), out.pos);
      if (r == 0) break;
    }
    inner_->finish();
  }

 private:
  std::unique_ptr<Sink> inner_;
  ZSTD_CStream* cs_;
  std::vector<char> out_;
};

class GzipSink : public Sink {
 public:
  GzipSink(std::unique_ptr<Sink> inner, int level) : inner_(std::move(inner)), out_(size_t{1} << 17) {
    if (deflateInit2(&zs_, level ? level : 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("out of memory (zlib)");
  }
  ~GzipSink() override { deflateEnd(&zs_); }
  void write(const char* data, size_t n) override {
    while (n > 0) {
      size_t k = std::min<size_t>(n, 1u << 30);
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
      zs_.avail_in = uInt(k);
      pump(Z_NO_FLUSH);
      data += k, n -= k;
    }
  }
  void finish() override {
    zs_.avail_in = 0;
    pump(Z_FINISH);
    inner_->finish();
  }

 private:
  void pump(int flush) {
    for (;;) {
      zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
      zs_.avail_out = uInt(out_.size());
      int r = deflate(&zs_, flush);
      if (r == Z_STREAM_ERROR) throw std::runtime_error("zlib: deflate failed");
      inner_->write(out_.data(), out_.size() - zs_.avail_out);
      if (flush == Z_FINISH ? r == Z_STREAM_END : (zs_.avail_in == 0 && zs_.avail_out != 0)) break;
    }
  }
  std::unique_ptr<Sink> inner_;
  z_stream zs_{};
  std::vector<char> out_;
};

}  // namespace

MappedFile::MappedFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + errnoText());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = errnoText();
    ::close(fd);
    throw std::runtime_error("cannot stat " + path + ": " + why);
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      std::string why = errnoText();
      ::close(fd);
      throw std::runtime_error("cannot map " + path + ": " + why);
    }
    ::madvise(p, size_, MADV_SEQUENTIAL);
    data_ = static_cast<const char*>(p);
  }
  ::close(fd);
}

void MappedFile::consumed(size_t offset) {
  constexpr size_t kStep = size_t{16} << 20;
  size_t page = size_t(::sysconf(_SC_PAGESIZE));
  size_t upTo = std::min(offset, size_) / page * page;
  if (upTo < released_ + kStep) return;
  ::madvise(const_cast<char*>(data_) + released_, upTo - released_, MADV_DONTNEED);
  released_ = upTo;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
}

std::unique_ptr<Input> fileInput(const std::string& path) { return std::make_unique<FileInput>(path); }
std::unique_ptr<Input> memoryInput(std::string_view data) { return std::make_unique<MemoryInput>(data); }
std::unique_ptr<Input> zstdInput(std::unique_ptr<Input> inner) { return std::make_unique<ZstdInput>(std::move(inner)); }
std::unique_ptr<Input> gzipInput(std::unique_ptr<Input> inner) { return std::make_unique<GzipInput>(std::move(inner)); }

Compression sniffCompression(std::string_view h) {
  auto at = [&](size_t i) { return i < h.size() ? uint8_t(h[i]) : 0; };
  if (at(0) == 0x28 && at(1) == 0xb5 && at(2) == 0x2f && at(3) == 0xfd) return Compression::Zstd;
  if (at(0) == 0x1f && at(1) == 0x8b) return Compression::Gzip;
  return Compression::None;
}

std::unique_ptr<Input> decompress(std::unique_ptr<Input> inner, Compression c) {
  switch (c) {
    case Compression::Zstd: return zstdInput(std::move(inner));
    case Compression::Gzip: return gzipInput(std::move(inner));
    case Compression::None: break;
  }
  return inner;
}

std::unique_ptr<Sink> stringSink(std::string& out) { return std::make_unique<StringSink>(out); }

std::unique_ptr<Sink> compress(std::unique_ptr<Sink> inner, Compression c, int level) {
  switch (c) {
    case Compression::Zstd: return std::make_unique<ZstdSink>(std::move(inner), level);
    case Compression::Gzip: return std::make_unique<GzipSink>(std::move(inner), level);
    case Compression::None: break;
  }
  return inner;
}

}  // namespace gomalloc::traces
