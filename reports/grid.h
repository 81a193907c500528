// Plain tables for people and for CI pages: a header, rows of cells, laid out as aligned text or as a
// GitHub/GitLab-flavoured markdown table. Plus the escaping that the CSV, XML and HTML outputs need.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gomalloc::reports {

struct Grid {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as long as header
  std::vector<bool> rightAligned;              // per column; missing entries: left
};

// Columns padded to their widest cell (counted in UTF-8 characters), two spaces apart, a dashed rule under
// the header, no trailing blanks.
std::string renderText(const Grid& g);
// "| a | b |" rows, a "| --- | ---: |" rule; '|' in cells escaped, '~' escaped so it is never strikethrough.
std::string renderMarkdown(const Grid& g);

std::string csvField(std::string_view s);     // quoted when it holds a comma, quote or newline
std::string xmlEscape(std::string_view s);    // & < > " ' as entities (XML and HTML)

}  // namespace gomalloc::reports
