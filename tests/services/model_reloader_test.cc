#include "services/app/model_reloader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "core/board.h"
#include "core/clock.h"
#include "core/model.h"
#include "core/scorer.h"
#include "services/metrics/prometheus_metrics.h"
#include "services/model/model_file.h"

namespace crm {
namespace {

class ModelReloaderTest : public ::testing::Test {
 protected:
  void Write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
  void WriteVersion(const std::string& version) {
    Model model;
    model.version = version;
    Write(ModelToJson(model));
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string InUse() const { return scorers_.Current()->model().version; }

  // Each test a file of its own: ctest runs the tests of this fixture at once,
  // and another checkout's run may share the temporary directory.
  const std::string path_ =
      ::testing::TempDir() + "/model_reloader_test_" + std::to_string(getpid()) + "_" +
      ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json";
  Board<Scorer> scorers_{std::make_shared<const Scorer>(Model{})};
  WallClock clock_;
  std::unique_ptr<PrometheusMetrics> metrics_ = PrometheusMetrics::Unserved(clock_);
};

TEST_F(ModelReloaderTest, AChangedFileIsPutInUseAndAnUnchangedOneIsNotReadAgain) {
  const std::string built_in = InUse();
  WriteVersion("v1");
  ModelReloader reloader(path_, StampOf(path_), &scorers_, metrics_.get());
  reloader.ReloadIfChanged();  // as loaded at start: nothing to do
  EXPECT_EQ(InUse(), built_in);

  WriteVersion("version-two");  // another size: another stamp
  reloader.ReloadIfChanged();
  EXPECT_EQ(InUse(), "version-two");
}

TEST_F(ModelReloaderTest, ABadFileKeepsTheModelInUse) {
  WriteVersion("v1");
  ModelReloader reloader(path_, std::nullopt, &scorers_, metrics_.get());
  reloader.ReloadIfChanged();
  ASSERT_EQ(InUse(), "v1");
  Write("{ not a model");
  reloader.ReloadIfChanged();
  EXPECT_EQ(InUse(), "v1");
  reloader.Reload();  // SIGHUP: read again all the same, and refused again
  EXPECT_EQ(InUse(), "v1");
}

TEST_F(ModelReloaderTest, SighupReadsTheFileAgainWhateverItsStamp) {
  WriteVersion("v1");
  ModelReloader reloader(path_, StampOf(path_), &scorers_, metrics_.get());
  reloader.Reload();
  EXPECT_EQ(InUse(), "v1");
}

TEST_F(ModelReloaderTest, WithoutAModelFileThereIsNothingToReload) {
  const std::string built_in = InUse();
  ModelReloader reloader("", std::nullopt, &scorers_, metrics_.get());
  reloader.Reload();
  reloader.ReloadIfChanged();
  EXPECT_EQ(InUse(), built_in);
}

}  // namespace
}  // namespace crm
