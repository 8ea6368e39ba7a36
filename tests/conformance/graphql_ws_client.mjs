// The reference graphql-ws client (npm `graphql-ws`) against a running gateway.
// Subscribes to the stock of a product and to an operation the gateway must refuse,
// and prints what it receives as JSON lines: {"op", "next"|"error"|"complete"}.
// Exits once the stock subscription completes (the product was hidden).
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, productId] = process.argv.slice(2);
const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0 });
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

function follow(op, query, variables) {
  return new Promise((resolve) => {
    client.subscribe(
      { query, variables },
      {
        next: (value) => print({ op, next: value }),
        error: (error) => {
          print({ op, error: Array.isArray(error) ? error : String(error) });
          resolve();
        },
        complete: () => {
          print({ op, complete: true });
          resolve();
        },
      },
    );
  });
}

const stock = follow(
  "stock",
  "subscription S($id: ID!) { stockChanged(productId: $id) { productId version stock { available } } }",
  { id: productId },
);
const refused = follow(
  "refused",
  "subscription S($id: ID!) { stockChanged(productId: $id) { version } }",
  { id: null },
);
await Promise.all([stock, refused]);
await client.dispose();
