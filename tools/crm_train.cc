// crm-train: fits the scoring model (BG/NBD, Pareto/NBD, Gamma-Gamma, churn and appetence
// weights) on a historical touchpoint log and writes the model file that
// crm-scored loads with --model.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "services/model/model_file.h"
#include "services/training/trainer.h"
#include "tools/command_line.h"

namespace {

// "YYYY-MM-DD" → that day at 00:00 UTC.
std::optional<crm::Timestamp> ParseDate(const std::string& text) {
  int y = 0;
  unsigned m = 0, d = 0;
  char dash1 = 0, dash2 = 0;
  std::istringstream in(text);
  in >> y >> dash1 >> m >> dash2 >> d;
  if (!in || dash1 != '-' || dash2 != '-' || in.peek() != EOF) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(y), std::chrono::month(m),
                                         std::chrono::day(d)};
  if (!date.ok()) return std::nullopt;
  return crm::Timestamp(std::chrono::sys_days(date));
}

std::optional<crm::training::TrainingLog> Read(const std::string& path, const char* what) {
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) {
      std::cerr << "crm-train: cannot read " << what << " " << path << "\n";
      return std::nullopt;
    }
  }
  std::istream& in = path == "-" ? std::cin : file;
  crm::training::TrainingLog log = crm::training::ReadTrainingLog(in, [&](std::uint64_t lines) {
    std::cerr << "\rcrm-train: " << what << ": " << lines << " lines" << std::flush;
  });
  std::cerr << "\rcrm-train: " << what << ": " << log.lines << " touchpoints of "
            << log.customers.size() << " customers, " << log.rejected << " rejected\n";
  for (const std::string& error : log.errors) std::cerr << "crm-train:   " << error << "\n";
  return log;
}

}  // namespace

int Run(int argc, char** argv) {
  std::string input, evaluate, output, calibration_end, time_unit = "week";
  std::string purchase_model = "bg-nbd";
  crm::training::TrainOptions options;
  bool no_merge = false, report_json = false;
  CLI::App app(
      "crm-train: fits the scoring model on a historical touchpoint log (JSON lines, as "
      "crm-touch reads). Customers' states as of --calibration-end are the inputs; whether they "
      "bought (churn) and what (appetence) in the following --horizon-days are the labels. "
      "Fits BG/NBD, Pareto/NBD and Gamma-Gamma by maximum likelihood (NLopt) and the churn and "
      "appetence weights by regularised logistic regression, prints a report (text, or JSON "
      "with --report-json) and writes the model file crm-scored loads with --model.",
      "crm-train");
  app.add_option("--input", input, "Touchpoint log to train on ('-': stdin)")->required();
  app.add_option("--evaluate", evaluate,
                 "Touchpoint log of other customers to measure churn and appetence on "
                 "(default: a held-out share of --input)");
  app.add_option("--calibration-end", calibration_end,
                 "Last day of the calibration period, YYYY-MM-DD (UTC)")
      ->required();
  app.add_option("--time-unit", time_unit, "Unit of the purchase model's parameters")
      ->check(CLI::IsMember({"day", "week"}))
      ->capture_default_str();
  app.add_option("--purchase-model", purchase_model,
                 "Purchase model the written file selects, and the churn and appetence weights "
                 "are fitted on (both are fitted and reported)")
      ->check(CLI::IsMember({"bg-nbd", "pareto-nbd"}))
      ->capture_default_str();
  app.add_flag("--no-merge-same-day", no_merge,
               "Count every purchase as a transaction (default: same-day purchases are one)");
  app.add_option("--horizon-days", options.horizon_days,
                 "Label period after the calibration end (default: to the log's last day)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--margin", options.value.margin, "Share of revenue that is margin, (0, 1]")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  app.add_option("--discount-rate", options.value.annual_discount_rate,
                 "Annual discount rate of the CLV")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--clv-horizon-days", options.value.clv_horizon_days, "Horizon of the CLV")
      ->check(CLI::Range(1.0, 36525.0))
      ->capture_default_str();
  app.add_option("--l2", options.l2, "L2 penalty of the logistic fits (standardised features)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--min-product-buyers", options.min_product_buyers,
                 "Buyers in the horizon a product needs to get an appetence model")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--model-version", options.version, "Version stamped on every score")
      ->capture_default_str();
  app.add_option("--output", output, "Model file to write (default: none)");
  app.add_flag("--report-json", report_json, "Print the report as JSON on stdout");
  if (auto exit_code = crm::ParseCommandLine(app, argc, argv)) return *exit_code;

  const std::optional<crm::Timestamp> end = ParseDate(calibration_end);
  if (!end) {
    std::cerr << "crm-train: --calibration-end: not a date YYYY-MM-DD: " << calibration_end << "\n";
    return 2;
  }
  options.calibration_end = *end;
  options.time_unit = time_unit == "day" ? crm::TimeUnit::kDay : crm::TimeUnit::kWeek;
  options.merge_same_day = !no_merge;
  options.purchase_model = purchase_model == "pareto-nbd" ? crm::PurchaseModelKind::kParetoNbd
                                                          : crm::PurchaseModelKind::kBgNbd;
  if (options.version.empty()) {
    std::cerr << "crm-train: --model-version is empty\n";
    return 2;
  }

  std::optional<crm::training::TrainingLog> train = Read(input, "input");
  if (!train) return 1;
  std::optional<crm::training::TrainingLog> held;
  if (!evaluate.empty()) {
    held = Read(evaluate, "evaluation log");
    if (!held) return 1;
  }
  options.description = "crm-train on " + input +
                        (evaluate.empty() ? "" : ", evaluated on " + evaluate) +
                        ", calibration end " + calibration_end;
  std::cerr << "crm-train: fitting…\n";
  auto trained = crm::training::Train(*train, held ? &*held : nullptr, options);
  if (!trained.ok()) {
    std::cerr << "crm-train: " << trained.status().message() << "\n";
    return 1;
  }
  std::cout << (report_json ? crm::training::ReportJson(trained->report)
                            : crm::training::ReportText(trained->report));
  if (!output.empty()) {
    std::ofstream out(output, std::ios::trunc);
    out << crm::ModelToJson(trained->model, options.description);
    if (!out.flush()) {
      std::cerr << "crm-train: cannot write " << output << "\n";
      return 1;
    }
    std::cerr << "crm-train: model version " << options.version << " written to " << output << "\n";
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {  // out of memory, mostly
    std::cerr << "crm-train: " << e.what() << "\n";
    return 1;
  }
}
