// A fleet of reference graphql-ws clients (npm `graphql-ws`), for `make faults`.
// Usage: node graphql_ws_fleet.mjs URL_A URL_B IDS_JSON CLIENTS SUBSCRIPTIONS_PER_CLIENT
// Client n starts on URL_A or URL_B by n's parity, and after each lost connection the
// client's own retry (its randomised exponential backoff) reconnects to the other URL
// and subscribes again. Each subscription follows the stock of one product. Prints
// JSON lines: {"c": client, "s": subscription, "g": the client's connection count
// when the value came, "id", "v": version, "a": available, "st": status}; {"c", "g"} on
// each connection; {"c", "s", "end": why} when a subscription ends. Runs until killed.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [urlA, urlB, idsJson, clientsArg, perClientArg] = process.argv.slice(2);
const urls = [urlA, urlB];
const ids = JSON.parse(idsJson);
const clients = Number(clientsArg);
const perClient = Number(perClientArg);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const QUERY =
  "subscription S($id: ID!) { stockChanged(productId: $id) { productId version stock { available status } } }";

for (let c = 0; c < clients; c++) {
  let closed = 0;
  let connected = 0;
  const client = createClient({
    url: () => urls[(c + closed) % urls.length],
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 1000,
    shouldRetry: () => true,
    keepAlive: 10_000,
    on: {
      connected: () => {
        connected += 1;
        print({ c, g: connected });
      },
      closed: () => {
        closed += 1;
      },
    },
  });
  for (let n = 0; n < perClient; n++) {
    const s = c * perClient + n;
    const id = ids[s % ids.length];
    client.subscribe(
      { query: QUERY, variables: { id } },
      {
        next: ({ data, errors }) => {
          const update = data && data.stockChanged;
          if (!update) {
            print({ c, s, end: JSON.stringify(errors || data) });
            return;
          }
          print({
            c,
            s,
            g: connected,
            id: update.productId,
            v: update.version,
            a: update.stock.available,
            st: update.stock.status,
          });
        },
        error: (error) => print({ c, s, end: String(error && (error.reason || error.message || error)) }),
        complete: () => print({ c, s, end: "complete" }),
      },
    );
  }
}
