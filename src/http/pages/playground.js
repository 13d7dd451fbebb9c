// Starts GraphiQL against this server: queries and mutations over POST, subscriptions over
// graphql-ws. GraphiQL sends the headers typed in its headers editor with both: over HTTP
// as headers, over the websocket as the connection_init payload (where the server reads
// `Authorization`).
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = new URL(root.dataset.endpoint, window.location.href);
  var socket = new URL(root.dataset.subscriptions, window.location.href);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({
        url: endpoint.toString(),
        subscriptionUrl: socket.toString(),
      }),
      defaultEditorToolsVisibility: true,
    })
  );
})();
