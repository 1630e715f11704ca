// The manual's tables against the service they describe, as PrometheusTest
// holds the alert rules to it: docs/configuration.md's flag table against the
// flags `crm-scored --help` lists, and docs/metrics.md's metric table against
// the families a running crm-scored exports on /metrics. Both directions: a
// flag or metric the doc does not list fails, and so does one it lists that
// the service does not have, each named.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "services/kafka/embedded_broker.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TempDir;

const std::string kDocs = CRM_SOURCE_DIR "/docs";

// The first cells of the rows of the first Markdown table in `markdown`
// whose header row's first cell is `header` (the header and the |---| row
// left out); empty when there is no such table.
std::vector<std::string> FirstColumn(const std::string& markdown, const std::string& header) {
  std::vector<std::string> cells;
  std::istringstream lines(markdown);
  bool inside = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '|') {
      if (inside) break;
      continue;
    }
    const std::size_t end = line.find('|', 1);
    std::string cell = line.substr(1, end == std::string::npos ? std::string::npos : end - 1);
    while (!cell.empty() && cell.front() == ' ') cell.erase(0, 1);
    while (!cell.empty() && cell.back() == ' ') cell.pop_back();
    if (!inside) {
      inside = cell == header;
      continue;
    }
    if (cell.starts_with("---")) continue;
    cells.push_back(cell);
  }
  return cells;
}

// The words of `text` that start with `prefix` and go on with the characters
// `allowed` takes (e.g. "--data-dir" in "`--data-dir DIR`").
std::set<std::string> Words(const std::string& text, const std::string& prefix,
                            bool (*allowed)(char)) {
  std::set<std::string> words;
  for (std::size_t at = text.find(prefix); at != std::string::npos;
       at = text.find(prefix, at + 1)) {
    if (at > 0 && (allowed(text[at - 1]) || text[at - 1] == '-')) continue;  // inside a word
    std::size_t end = at + prefix.size();
    while (end < text.size() && allowed(text[end])) ++end;
    if (end > at + prefix.size()) words.insert(text.substr(at, end - at));
  }
  return words;
}

bool FlagCharacter(char c) {
  return std::islower(static_cast<unsigned char>(c)) != 0 ||
         std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '-';
}

// Each of `expected` missing from `actual`, one per line after `why`.
std::string Missing(const std::set<std::string>& expected, const std::set<std::string>& actual,
                    const std::string& why) {
  std::string missing;
  for (const std::string& name : expected) {
    if (!actual.contains(name)) missing += name + " " + why + "\n";
  }
  return missing;
}

TEST(DocsTest, TheFlagTableListsEveryFlagOfTheServiceAndNoOther) {
  TempDir dir;
  ChildProcess help(CRM_SCORED_BIN, {"--help"}, dir.path() / "help.log");
  ASSERT_EQ(help.Wait(30s), 0) << help.Log();
  // CLI11 lists each option at the start of a line: "  --name …" or "  -h,--help …".
  std::set<std::string> flags;
  std::istringstream lines(help.Log());
  for (std::string line; std::getline(lines, line);) {
    const std::size_t start = line.find_first_not_of(' ');
    if (start != 2 || line[start] != '-') continue;
    const std::string names = line.substr(start, line.find(' ', start) - start);
    for (const std::string& flag : Words(names, "--", FlagCharacter)) flags.insert(flag);
  }
  ASSERT_GE(flags.size(), 50u) << help.Log();

  const std::vector<std::string> rows =
      FirstColumn(testing::ReadFile(kDocs + "/configuration.md"), "flag");
  ASSERT_GE(rows.size(), 40u) << "no table headed `| flag |` in docs/configuration.md";
  std::set<std::string> documented;
  for (const std::string& row : rows) {
    for (const std::string& flag : Words(row, "--", FlagCharacter)) documented.insert(flag);
  }
  EXPECT_EQ(Missing(flags, documented, "is a flag of crm-scored but not in docs/configuration.md"),
            "");
  EXPECT_EQ(
      Missing(documented, flags, "is in docs/configuration.md but crm-scored has no such flag"),
      "");
}

TEST(DocsTest, TheMetricTableListsEveryMetricTheServiceExportsAndNoOther) {
  auto broker = testing::TestKafka::Start(ContractTopics(1));
  ASSERT_TRUE(broker.ok()) << broker.status();
  TempDir dir;
  testing::RunningService service = testing::StartService(
      (*broker)->bootstrap(), dir.path() / "data", dir.path() / "service.log", {}, "docs-test");
  ASSERT_FALSE(service.metrics.empty()) << service.process->Log();
  // Some families appear only once there is something to report: the
  // service ingests a stream first, and reports its partition's lag (about
  // each second) once it has consumed it.
  const testing::SilentBuyers buyers = testing::VipAndSmall();
  testing::ProduceTouchpoints((*broker)->bootstrap(), buyers.history);
  std::string page;
  const auto until = std::chrono::steady_clock::now() + 60s;
  do {
    std::this_thread::sleep_for(100ms);
    page = HttpGet(service.metrics).value_or("");
  } while ((SumSamples(page, "crm_touchpoints_consumed_total") <
                static_cast<double>(buyers.history.size()) ||
            page.find("\ncrm_consumer_lag{") == std::string::npos) &&
           std::chrono::steady_clock::now() < until);
  ASSERT_EQ(SumSamples(page, "crm_touchpoints_consumed_total"),
            static_cast<double>(buyers.history.size()))
      << service.process->Log();
  // Every family, histograms and summaries by their family name.
  std::set<std::string> exported;
  std::istringstream lines(page);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    const std::size_t start = std::string("# TYPE ").size();
    exported.insert(line.substr(start, line.find(' ', start) - start));
  }
  ASSERT_GE(exported.size(), 30u) << page;

  const std::vector<std::string> rows =
      FirstColumn(testing::ReadFile(kDocs + "/metrics.md"), "metric");
  ASSERT_GE(rows.size(), 30u) << "no table headed `| metric |` in docs/metrics.md";
  std::set<std::string> documented;
  for (const std::string& row : rows) {
    // "`crm_consumer_lag`": one name a row, its labels in another column.
    const std::size_t open = row.find('`');
    const std::size_t close = row.find('`', open + 1);
    ASSERT_TRUE(open != std::string::npos && close != std::string::npos) << row;
    documented.insert(row.substr(open + 1, close - open - 1));
  }
  EXPECT_EQ(Missing(exported, documented, "is exported by crm-scored but not in docs/metrics.md"),
            "");
  EXPECT_EQ(
      Missing(documented, exported, "is in docs/metrics.md but crm-scored does not export it"), "");
  EXPECT_EQ(service.process->Stop(SIGTERM), 0) << service.process->Log();
}

}  // namespace
}  // namespace crm
