// Internal: the concrete readers behind openTrace (reader.cpp).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "traces/reader.h"

namespace gomalloc::traces::detail {

// How the JSON reader treats the top-level object: a document (needs "events"), the header line of JSON Lines
// (must not have "events"), or either (decided by whether "events" appears).
enum class JsonMode { Document, Lines, Sniff };

std::unique_ptr<TraceReader> makeJsonReader(std::string path, Compression c, JsonMode mode, const ReadOptions& o,
                                            std::unique_ptr<Input> input);
// Binary from memory that stays valid: a file mapping (map, owned by the reader, whose consumed pages are
// released as reading goes on) or caller-owned bytes (map null).
std::unique_ptr<TraceReader> makeBinaryReader(std::string path, const ReadOptions& o, std::string_view data,
                                              std::shared_ptr<MappedFile> map);
// Binary from a stream (compressed files).
std::unique_ptr<TraceReader> makeBinaryStreamReader(std::string path, Compression c, const ReadOptions& o,
                                                     std::unique_ptr<Input> input);

}  // namespace gomalloc::traces::detail
