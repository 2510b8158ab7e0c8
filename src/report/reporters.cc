// The reporters of ReportData: self-contained HTML (Vega-Lite), JSON and CSV.
#include <strings.h>

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "internal.h"
#include "dlbricks/file_io.h"
#include "dlbricks/report.h"

namespace dlbricks {

namespace {

using json = nlohmann::ordered_json;
using report_internal::CsvField;

json CellJson(const ReportCell& c) {
  if (const auto* i = std::get_if<int64_t>(&c)) return *i;
  if (const auto* d = std::get_if<double>(&c)) return *d;
  if (const auto* s = std::get_if<std::string>(&c)) return *s;
  return nullptr;
}

std::string CellText(const ReportCell& c, const char* real_format) {
  if (const auto* i = std::get_if<int64_t>(&c)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&c)) return fmt::format(fmt::runtime(real_format), *d);
  if (const auto* s = std::get_if<std::string>(&c)) return *s;
  return "";
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// JavaScript inside <script>: only "</script" would end the element early (none is in the npm
// builds today; a regex or string still means the same with the slash escaped).
std::string ScriptSafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == '<' && i + 7 < s.size() && s[i + 1] == '/' && strncasecmp(s.data() + i + 2, "script", 6) == 0)
      out += '\\';
  }
  return out;
}

// JSON inside <script>: every "</" and "<!--" escaped (valid JSON string escapes).
std::string JsonScriptSafe(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && (s[i + 1] == '/' || s[i + 1] == '!')) {
      out += "\\u003c";
      continue;
    }
    out += s[i];
  }
  return out;
}

json RowsAsObjects(const ReportTable& t) {
  json values = json::array();
  for (const auto& row : t.rows) {
    json o = json::object();
    for (size_t i = 0; i < t.columns.size() && i < row.size(); ++i) o[t.columns[i]] = CellJson(row[i]);
    values.push_back(std::move(o));
  }
  return values;
}

std::string HtmlTable(const ReportTable& t, const std::string& caption) {
  std::string out = "<table>\n<thead><tr>";
  for (const std::string& c : t.columns) out += "<th>" + HtmlEscape(c) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (const ReportCell& c : row) {
      const bool number = std::holds_alternative<int64_t>(c) || std::holds_alternative<double>(c);
      out += number ? "<td class=\"n\">" : "<td>";
      out += HtmlEscape(CellText(c, "{:.4g}")) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n";
  // Long tables fold away so the figures stay readable; they are still right below the figure.
  if (t.rows.size() > 30)
    return fmt::format("<details><summary>{} ({} rows)</summary>\n{}</details>\n", HtmlEscape(caption),
                       t.rows.size(), out);
  return "<p class=\"tcap\">" + HtmlEscape(caption) + "</p>\n" + out;
}

constexpr char kStyle[] = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:0 1.5em 3em;color:#222}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta,.src,.tcap{color:#666;font-size:.9em}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0}th,td{border:1px solid #ddd;padding:2px 6px;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.8em}.chart{margin:.8em 0;overflow-x:auto}
#dlb-errors:empty{display:none}#dlb-errors{color:#b00;background:#fee;border:1px solid #b00}
details summary{cursor:pointer;color:#225}nav ul{columns:2;font-size:.9em})";

// Errors and warnings anywhere in the page end up in #dlb-status (read by the browser test).
constexpr char kErrorCapture[] = R"(window.dlbErrors=[];window.dlbWarnings=[];
function dlbNote(list,msg){list.push(String(msg));var s=document.getElementById('dlb-status');
if(s){s.dataset.errors=window.dlbErrors.length;s.dataset.warnings=window.dlbWarnings.length;}
var p=document.getElementById('dlb-errors');if(p){p.textContent=window.dlbErrors.concat(window.dlbWarnings).join('\n');}}
window.addEventListener('error',function(e){dlbNote(window.dlbErrors,'error: '+e.message);});
window.addEventListener('unhandledrejection',function(e){dlbNote(window.dlbErrors,'unhandled rejection: '+(e.reason&&e.reason.message||e.reason));});
(function(){var ce=console.error,cw=console.warn;
console.error=function(){dlbNote(window.dlbErrors,'console.error: '+Array.prototype.join.call(arguments,' '));ce.apply(console,arguments);};
console.warn=function(){dlbNote(window.dlbWarnings,'console.warn: '+Array.prototype.join.call(arguments,' '));cw.apply(console,arguments);};})();)";

constexpr char kRender[] = R"((function(){var specs=JSON.parse(document.getElementById('dlb-specs').textContent);
var status=document.getElementById('dlb-status');var rendered=0;
Promise.all(Object.keys(specs).map(function(id){var el=document.getElementById('chart-'+id);
return vegaEmbed(el,specs[id],{renderer:'svg',actions:false,mode:'vega-lite'}).then(function(){
if(el.querySelector('svg')){el.dataset.rendered='1';rendered++;}else{dlbNote(window.dlbErrors,id+': nothing drawn');}
}).catch(function(e){dlbNote(window.dlbErrors,id+': '+(e&&e.message||e));});
})).then(function(){status.dataset.rendered=rendered;status.dataset.done='1';});})();)";

json SystemsJson(const ReportData& d) {
  json systems = json::array();
  for (const ReportSystem& s : d.systems) {
    json fp = json::parse(s.fingerprint_json, nullptr, false);
    systems.push_back({{"label", s.label},
                       {"id", s.id},
                       {"summary", s.summary},
                       {"fingerprint", fp.is_discarded() ? json(nullptr) : fp},
                       {"protocols", s.protocols},
                       {"brick_rows", s.brick_rows},
                       {"model_rows", s.model_rows},
                       {"op_profile_rows", s.op_profile_rows},
                       {"prediction_rows", s.prediction_rows}});
  }
  return systems;
}

json TableJson(const ReportTable& t) {
  json rows = json::array();
  for (const auto& row : t.rows) {
    json r = json::array();
    for (const ReportCell& c : row) r.push_back(CellJson(c));
    rows.push_back(std::move(r));
  }
  return {{"columns", t.columns}, {"rows", rows}};
}

}  // namespace

std::string ReportHtml(const ReportData& d) {
  namespace ri = report_internal;
  std::string h;
  h.reserve(ri::VegaJs().size() + ri::VegaLiteJs().size() + ri::VegaEmbedJs().size() + (1 << 16));
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>" + HtmlEscape(d.title) + "</title>\n<style>\n" + kStyle + "\n</style>\n";
  h += std::string("<script>\n") + kErrorCapture + "\n</script>\n";
  for (std::string_view js : {ri::VegaJs(), ri::VegaLiteJs(), ri::VegaEmbedJs()})
    h += "<script>\n" + ScriptSafe(js) + "\n</script>\n";
  h += "</head>\n<body>\n";
  h += "<h1>" + HtmlEscape(d.title) + "</h1>\n";
  h += fmt::format("<p class=\"meta\">Generated {} by dlbricks {} on {}. Sources: {}.</p>\n",
                   HtmlEscape(d.generated_at), HtmlEscape(d.tool_version), HtmlEscape(d.host),
                   HtmlEscape(fmt::format("{}", fmt::join(d.inputs, ", "))));
  h += "<pre id=\"dlb-errors\"></pre>\n";

  h += "<nav><h2>Contents</h2><ul>\n<li><a href=\"#systems\">Systems and protocols</a></li>\n";
  if (!d.suite.rows.empty()) h += "<li><a href=\"#suite\">Suite coverage</a></li>\n";
  for (const ReportFigure& f : d.figures)
    h += fmt::format("<li><a href=\"#fig-{}\">{}</a> ({}){}</li>\n", HtmlEscape(f.id), HtmlEscape(f.title),
                     HtmlEscape(f.source), f.missing.empty() ? "" : " — left out");
  h += "</ul></nav>\n";

  h += "<section id=\"systems\">\n<h2>Systems and protocols</h2>\n";
  h += "<p>Every table names the system (label below) and the protocol behind each number.</p>\n";
  ReportTable systems;
  systems.columns = {"label",      "system_id",  "system",          "protocols",
                     "brick_rows", "model_rows", "op_profile_rows", "prediction_rows"};
  for (const ReportSystem& s : d.systems)
    systems.rows.push_back({s.label, s.id, s.summary, fmt::format("{}", fmt::join(s.protocols, ", ")), s.brick_rows,
                            s.model_rows, s.op_profile_rows, s.prediction_rows});
  if (d.systems.empty()) h += "<p class=\"note\">The store holds no systems yet: run `dlbricks run` or `dlbricks measure`.</p>\n";
  else h += HtmlTable(systems, "Systems");
  for (const ReportSystem& s : d.systems) {
    json fp = json::parse(s.fingerprint_json, nullptr, false);
    h += fmt::format("<details><summary>{} fingerprint ({})</summary><pre>{}</pre></details>\n", HtmlEscape(s.label),
                     HtmlEscape(s.id), HtmlEscape(fp.is_discarded() ? s.fingerprint_json : fp.dump(2)));
  }
  h += "</section>\n";

  if (!d.suite.rows.empty()) {
    h += "<section id=\"suite\">\n<h2>Suite coverage</h2>\n";
    h += "<p>Bricks of the suite measured per system, protocol and batch.</p>\n";
    h += HtmlTable(d.suite, "Suite coverage") + "</section>\n";
  }

  json specs = json::object();
  int expected = 0;
  for (const ReportFigure& f : d.figures) {
    h += fmt::format("<section class=\"figure\" id=\"fig-{}\">\n<h2>{}</h2>\n<p class=\"src\">{}</p>\n",
                     HtmlEscape(f.id), HtmlEscape(f.title), HtmlEscape(f.source));
    if (!f.missing.empty()) {
      h += "<p class=\"note\">Left out: " + HtmlEscape(f.missing) + "</p>\n</section>\n";
      continue;
    }
    h += "<p>" + HtmlEscape(f.caption) + "</p>\n";
    h += fmt::format("<div class=\"chart\" id=\"chart-{}\" data-figure=\"{}\"></div>\n", HtmlEscape(f.id),
                     HtmlEscape(f.id));
    if (!f.summary.rows.empty()) h += HtmlTable(f.summary, "Summary: " + f.title);
    h += HtmlTable(f.table, "Data: " + f.title) + "</section>\n";
    json spec = json::parse(f.vega_lite, nullptr, false);
    spec["data"] = {{"values", RowsAsObjects(f.table)}};
    specs[f.id] = std::move(spec);
    ++expected;
  }
  h += fmt::format("<div id=\"dlb-status\" data-expected=\"{}\" data-rendered=\"0\" data-errors=\"0\" "
                   "data-warnings=\"0\" data-done=\"0\"></div>\n",
                   expected);
  h += "<script type=\"application/json\" id=\"dlb-specs\">" + JsonScriptSafe(specs.dump()) + "</script>\n";
  h += std::string("<script>\n") + kRender + "\n</script>\n</body>\n</html>\n";
  return h;
}

std::string ReportJson(const ReportData& d) {
  json j;
  j["schema_version"] = kReportSchemaVersion;
  j["command"] = "report";
  j["context"] = {{"dlbricks_version", d.tool_version}, {"host", d.host}, {"date", d.generated_at}};
  j["title"] = d.title;
  j["inputs"] = d.inputs;
  j["systems"] = SystemsJson(d);
  j["suite"] = TableJson(d.suite);
  j["figures"] = json::array();
  for (const ReportFigure& f : d.figures) {
    json fig = {{"id", f.id}, {"title", f.title}, {"source", f.source}, {"present", f.missing.empty()}};
    if (!f.missing.empty()) fig["missing"] = f.missing;
    json t = TableJson(f.table);
    fig["columns"] = t["columns"];
    fig["rows"] = t["rows"];
    if (!f.summary.columns.empty()) fig["summary"] = TableJson(f.summary);
    j["figures"].push_back(std::move(fig));
  }
  return j.dump(2) + "\n";
}

std::string ReportCsv(const ReportData& d) {
  std::string out;
  auto table = [&out](const std::string& id, const ReportTable& t) {
    if (t.columns.empty()) return;
    if (!out.empty()) out += "\n";
    out += "table";
    for (const std::string& c : t.columns) out += "," + CsvField(c);
    out += "\n";
    for (const auto& row : t.rows) {
      out += CsvField(id);
      for (const ReportCell& c : row) out += "," + CsvField(CellText(c, "{:.9g}"));
      out += "\n";
    }
  };
  ReportTable systems;
  systems.columns = {"label", "system_id", "system", "protocols"};
  for (const ReportSystem& s : d.systems)
    systems.rows.push_back({s.label, s.id, s.summary, fmt::format("{}", fmt::join(s.protocols, " "))});
  table("systems", systems);
  table("suite_coverage", d.suite);
  for (const ReportFigure& f : d.figures) {
    if (!f.missing.empty()) continue;
    table(f.id, f.table);
    table(f.id + "_summary", f.summary);
  }
  return out;
}

Status WriteReport(const ReportData& data, const std::string& path) {
  namespace fs = std::filesystem;
  const std::string ext = fs::path(path).extension().string();
  std::string text;
  if (ext == ".html" || ext == ".htm") text = ReportHtml(data);
  else if (ext == ".json") text = ReportJson(data);
  else if (ext == ".csv") text = ReportCsv(data);
  else return Status::InvalidArgument(path + ": unknown report format (use .html, .json or .csv)");
  return WriteFileAtomically(path, text);
}

}  // namespace dlbricks
