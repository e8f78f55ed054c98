package dev.parley.samples.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.parley.java.*;
import dev.parley.testkit.*;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class PricesTest {
    // A fresh server for each test, closed after it: it answers the subscription with a price.
    @RegisterExtension
    final WebSocketTestServerExtension ws = new WebSocketTestServerExtension(
        WebSocketTestServer.builder().onText("{\"subscribe\":\"prices\"}", "{\"price\":42}"));

    @Test
    void subscribesReadsAPriceAndClosesWith1000(WebSocketTestServer server) throws Exception {
        CompletableFuture<String> price = new CompletableFuture<>();
        try (ParleyWebSocket client = ParleyWebSocket.builder(server.uri())
                .listener(new ParleyListener() {
                    @Override public void onText(Reply reply, String text) { price.complete(text); }
                })
                .build()) {
            client.connect().get(5, TimeUnit.SECONDS);
            client.sendText("{\"subscribe\":\"prices\"}").get(5, TimeUnit.SECONDS);
            assertEquals("{\"price\":42}", price.get(5, TimeUnit.SECONDS));

            TestConnection peer = server.awaitConnection();      // the server's side of the connection
            peer.expectText("{\"subscribe\":\"prices\"}");       // what the client sent, in order
            client.disconnect(1000, "done").get(5, TimeUnit.SECONDS);
            peer.expectClose(1000);
            peer.expectNothingMore();
        }
    }
}
