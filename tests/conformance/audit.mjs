// Runs the graphql-http server audit against the gateway at process.argv[2] and prints
// one JSON object: the counts and every result that is not "ok".
import { auditServer } from "graphql-http";

const url = process.argv[2];
const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const problems = [];
for (const result of results) {
  counts[result.status] = (counts[result.status] ?? 0) + 1;
  if (result.status !== "ok") {
    problems.push({ id: result.id, name: result.name, status: result.status, reason: result.reason });
  }
}
console.log(JSON.stringify({ counts, problems }));
