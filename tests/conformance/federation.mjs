// Composes subgraphs with both public composers, and runs Apollo's federated gateway.
//
//   node federation.mjs compose NAME|URL|SDL_FILE ...
//     prints {"apollo": {...}, "guild": {...}}: each a supergraphSdl or its errors.
//   node federation.mjs gateway NAME|URL|SDL_FILE ...
//     composes with @apollo/composition, serves @apollo/gateway on a port the OS picks,
//     prints {"url": ...} and runs until its standard input closes.
//   node federation.mjs hive MAX_COST NAME|URL|SDL_FILE ...
//     the same with Hive Gateway, composed by @theguild/federation-composition, with
//     demand control enforcing MAX_COST and reporting `extensions.cost.estimated`.
//
// A request to the gateway with `x-test-trace: ftv1` makes the gateway ask the
// subgraphs for federated traces (as usage reporting would); the response then carries
// `extensions.fetchTraces`: per fetch, the service, whether the gateway failed to parse
// its ftv1, and the trace as Apollo's own protobuf code decoded it.
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices } from "@apollo/composition";
import { composeServices as composeWithGuild } from "@theguild/federation-composition";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { ApolloGateway } from "@apollo/gateway";
import { Trace } from "@apollo/usage-reporting-protobuf";
import { createGatewayRuntime } from "@graphql-hive/gateway-runtime";
import { createServer } from "node:http";

const [command, ...rest] = process.argv.slice(2);
const maxCost = command === "hive" ? Number(rest.shift()) : undefined;
const specs = rest;
const services = specs.map((spec) => {
  const [name, url, path] = spec.split("|");
  return { name, url, typeDefs: parse(readFileSync(path, "utf8")) };
});

function outcome(result) {
  if (result.errors && result.errors.length > 0) {
    return { errors: result.errors.map((e) => e.message) };
  }
  return { supergraphSdl: result.supergraphSdl };
}

function fetchesOf(node, found) {
  if (!node) return found;
  if (node.fetch) {
    found.push({
      serviceName: node.fetch.serviceName,
      traceParsingFailed: Boolean(node.fetch.traceParsingFailed),
      trace: node.fetch.trace ? Trace.toObject(node.fetch.trace, { longs: Number }) : null,
    });
  }
  for (const child of [
    ...(node.sequence?.nodes ?? []),
    ...(node.parallel?.nodes ?? []),
  ]) {
    fetchesOf(child, found);
  }
  if (node.flatten) fetchesOf(node.flatten.node, found);
  return found;
}

const tracesOnRequest = {
  async requestDidStart(start) {
    if (start.request.http?.headers.get("x-test-trace") !== "ftv1") return {};
    start.metrics.captureTraces = true;
    return {
      async willSendResponse(context) {
        const body = context.response.body;
        if (body.kind !== "single") return;
        body.singleResult.extensions = {
          ...body.singleResult.extensions,
          fetchTraces: fetchesOf(context.metrics.queryPlanTrace, []),
        };
      },
    };
  },
};

if (command === "compose") {
  console.log(
    JSON.stringify({
      apollo: outcome(composeServices(services)),
      guild: outcome(composeWithGuild(services)),
    }),
  );
} else if (command === "gateway") {
  const composed = composeServices(services);
  if (composed.errors) {
    console.error(JSON.stringify(outcome(composed)));
    process.exit(1);
  }
  const gateway = new ApolloGateway({ supergraphSdl: composed.supergraphSdl });
  const server = new ApolloServer({ gateway, plugins: [tracesOnRequest] });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: "127.0.0.1" },
  });
  console.log(JSON.stringify({ url }));
  process.stdin.on("end", async () => {
    await server.stop();
    process.exit(0);
  });
  process.stdin.resume();
} else if (command === "hive") {
  const composed = composeWithGuild(services);
  if (composed.errors) {
    console.error(JSON.stringify(outcome(composed)));
    process.exit(1);
  }
  const gateway = createGatewayRuntime({
    supergraph: composed.supergraphSdl,
    demandControl: { maxCost, includeExtensionMetadata: true },
    logging: process.env.HIVE_LOG ?? false,
  });
  const server = createServer(gateway);
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    console.log(JSON.stringify({ url: `http://127.0.0.1:${port}/graphql` }));
  });
  process.stdin.on("end", async () => {
    server.close();
    await gateway.dispose();
    process.exit(0);
  });
  process.stdin.resume();
} else {
  console.error(`unknown command: ${command}`);
  process.exit(2);
}
