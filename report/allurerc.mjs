// Allure 3 configuration for meshproof's offline report; scripts/build-report.sh passes it.
//
// One self-contained index.html (the awesome plugin's singleFile option): an
// auditor opens it from disk with no server and no network.  Categories come
// from the categories.json the test run wrote (meshproof/report.py), so they
// are defined in one place; Allure 3 reads them from its configuration only.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "allure";

const resultsDir =
  process.env.MESHPROOF_ALLURE_RESULTS ??
  fileURLToPath(new URL("../reports/allure-results", import.meta.url));
const categoriesFile = `${resultsDir}/categories.json`;
const categories = existsSync(categoriesFile)
  ? JSON.parse(readFileSync(categoriesFile, "utf-8"))
  : [];

export default defineConfig({
  name: "meshproof conformance",
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportName: "meshproof conformance",
        reportLanguage: "en",
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
  ...(categories.length ? { categories: { rules: categories } } : {}),
});
