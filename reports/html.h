// HTML reports: one self-contained page (inline SVG charts and CSS, no script, nothing fetched; a
// Content-Security-Policy forbids any request) for a replay report and for a compare result; info's page is
// in reports/info.h, fidelity's in reports/fidelity.h.
// Every drawn series carries data-series="name" and data-points="N" (the points or bars drawn), which the
// browser test checks against what the browser parsed.
#pragma once

#include <string>

#include "reports/compare.h"
#include "reports/report.h"
#include "reports/suite.h"

namespace gomalloc::reports {

// The page every HTML report shares (style, Content-Security-Policy); body is HTML, title is escaped here.
std::string htmlPage(const std::string& title, const std::string& body);

// The replay page's timeline: x in trace events done (the default: variants' GCs line up), or in wall time.
enum class TimelineAxis { Events, Time };
struct HtmlOptions {
  TimelineAxis axis = TimelineAxis::Events;
};
std::string renderHtml(const Report& r, const HtmlOptions& o = {});
std::string renderCompareHtml(const CompareResult& c);
// A suite: the summary, then each trace's sections.
std::string renderSuiteHtml(const SuiteResult& s);

}  // namespace gomalloc::reports
