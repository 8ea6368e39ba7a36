// Starts GraphiQL against this origin's /graphql (HTTP; subscriptions need a
// WebSocket client, which the storefront page shows).
"use strict";
(function () {
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
  var query = "{\n  __typename\n}\n";
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, { fetcher: fetcher, defaultQuery: query }));
})();
