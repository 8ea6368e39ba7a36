// Validates Prometheus Operator manifests (ServiceMonitor, PrometheusRule) against the
// CRDs' schemas, as @kubernetes-models/prometheus-operator compiles them.
// Reads a JSON array of manifests on stdin; prints one line per problem; exit 1 if any.
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const MODELS = { ServiceMonitor, PrometheusRule };
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const manifests = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const problems = [];
for (const manifest of manifests) {
  const Model = MODELS[manifest.kind];
  const name = `${manifest.kind}/${manifest.metadata?.name}`;
  if (Model === undefined) {
    problems.push(`${name}: not a kind this validator knows`);
    continue;
  }
  try {
    new Model(manifest).validate();
  } catch (error) {
    problems.push(`${name}: ${error.message}`);
  }
}
for (const problem of problems) console.log(problem);
process.exit(problems.length ? 1 : 0);
