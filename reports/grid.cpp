#include "reports/grid.h"

#include <algorithm>

namespace gomalloc::reports {

namespace {

size_t displayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) n++;
  return n;
}

bool right(const Grid& g, size_t col) { return col < g.rightAligned.size() && g.rightAligned[col]; }

std::string markdownCell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|' || c == '~' || c == '*' || c == '_' || c == '`') out += '\\';
    out += c;
  }
  return out.empty() ? " " : out;
}

}  // namespace

std::string renderText(const Grid& g) {
  std::vector<size_t> width(g.header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); i++) width[i] = std::max(width[i], displayWidth(row[i]));
  };
  measure(g.header);
  for (auto& r : g.rows) measure(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < width.size(); i++) {
      const std::string cell = i < row.size() ? row[i] : "";
      const std::string pad(width[i] - displayWidth(cell), ' ');
      if (i) out += "  ";
      out += right(g, i) ? pad + cell : cell + pad;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(g.header);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  out += line(rule);
  for (auto& r : g.rows) out += line(r);
  return out;
}

std::string renderMarkdown(const Grid& g) {
  auto line = [&](const std::vector<std::string>& row) {
    std::string out = "|";
    for (size_t i = 0; i < g.header.size(); i++) out += " " + markdownCell(i < row.size() ? row[i] : "") + " |";
    return out + "\n";
  };
  std::string out = line(g.header) + "|";
  for (size_t i = 0; i < g.header.size(); i++) out += right(g, i) ? " ---: |" : " --- |";
  out += "\n";
  for (auto& r : g.rows) out += line(r);
  return out;
}

std::string csvField(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string xmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters other than tab and newlines are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') out += ' ';
        else out += c;
    }
  }
  return out;
}

}  // namespace gomalloc::reports
