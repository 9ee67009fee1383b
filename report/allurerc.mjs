// Allure 3 configuration for meshproof's offline report; scripts/build-report.sh passes it.
//
// One self-contained index.html (the awesome plugin's singleFile option): an
// auditor opens it from disk with no server and no network.  Categories come
// from the categories.json the test run wrote (meshproof/report.py), so they
// are defined in one place; Allure 3 reads them from its configuration only.
//
// The first page must say what the run concluded and under which conditions:
// the report's name carries the verdict, and the report variables (shown at
// the top of the overview) carry the backend, the mesh profile, the mode (a
// deliberate defect), every non-default setting and the suite's version and
// commit, all read from the run's conformance.json next to its results.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "allure";

const resultsDir =
  process.env.MESHPROOF_ALLURE_RESULTS ??
  fileURLToPath(new URL("../reports/latest/allure-results", import.meta.url));
const readJson = (file) => (existsSync(file) ? JSON.parse(readFileSync(file, "utf-8")) : null);
const categories = readJson(`${resultsDir}/categories.json`) ?? [];
const conformance = readJson(`${resultsDir}/../conformance.json`);

const title = conformance
  ? `meshproof conformance: ${conformance.verdict.toUpperCase()}`
  : "meshproof conformance (no verdict: not a conformance run)";

const variables = {};
if (conformance) {
  variables["Verdict"] = conformance.verdict;
  variables["Exit code"] = `${conformance.exit_status.code} (${conformance.exit_status.meaning})`;
  variables["Backend"] = conformance.backend;
  variables["Mesh"] = `${conformance.implementation.project} ${conformance.implementation.version}`;
  variables["Mode"] = conformance.mode;
  for (const [name, value] of Object.entries(conformance.settings ?? {})) {
    variables[`Setting ${name}`] = value;
  }
  variables["meshproof"] = `${conformance.meshproof.version} (commit ${conformance.meshproof.commit})`;
  variables["Run"] = `${conformance.run_ids.join(", ")} / evidence ${conformance.evidence}`;
}

export default defineConfig({
  name: title,
  variables,
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportName: title,
        reportLanguage: "en",
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
  ...(categories.length ? { categories: { rules: categories } } : {}),
});
