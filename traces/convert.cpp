#include "traces/convert.h"

#include "traces/loader.h"
#include "traces/reader.h"
#include "traces/writer.h"

namespace gomalloc::traces {
namespace {

bool sameHeader(const TraceHeader& a, const TraceHeader& b) { return a.threads == b.threads && a.meta == b.meta; }

// One pass; returns false (and writes nothing) if the header changed after the events (a JSON document with
// header keys after "events"): then *header holds the complete header for a second pass.
bool pass(const std::string& in, const std::string& out, const ConvertOptions& opts, TraceHeader* header,
          bool headerKnown, ConvertResult& res) {
  ReadOptions ro;
  ro.lenient = opts.lenient;
  auto r = openTrace(in, ro);
  ProgramBuilder::Options bo;
  bo.lenient = opts.lenient;
  bo.keepOps = false;
  ProgramBuilder check(in, bo);
  std::vector<Event> buf(1024);
  size_t n = r->read(buf.data(), buf.size());
  if (!headerKnown) *header = r->header();
  auto w = createWriter(out, *header);
  uint64_t index = 0;
  for (; n; n = r->read(buf.data(), buf.size())) {
    for (size_t i = 0; i < n; i++, index++) {
      const Event& e = buf[i];
      auto step = check.add(buf.data(), n, i, index);
      if (step.skipped) continue;
      if (step.implicitFree) {
        Event f = Event::free(e.thread, e.id);
        f.hasTs = e.hasTs, f.ts = e.ts;
        w->write(f);
      }
      w->write(e);
    }
  }
  if (!headerKnown && !sameHeader(*header, r->header())) {
    *header = r->header();
    return false;  // the unfinished writer discards its temporary file
  }
  w->finish();
  ReplayProgram p = check.finish();
  res.from = r->format();
  res.to = *formatFromSuffix(out);
  res.eventsIn = index;
  res.eventsOut = w->eventsWritten();
  res.warnings = p.warnings;
  for (auto& x : r->warnings()) res.warnings.push_back(x);
  return true;
}

}  // namespace

ConvertResult convertTrace(const std::string& in, const std::string& out, const ConvertOptions& opts) {
  ConvertResult res;
  TraceHeader header;
  if (!pass(in, out, opts, &header, false, res)) pass(in, out, opts, &header, true, res);
  return res;
}

}  // namespace gomalloc::traces
